"""Tool rules through sync: bad conditions are sync errors, the table follows card edits, overlaps warn."""

from __future__ import annotations

from sqlmodel import Session, select

from freshgate import db
from freshgate.actions.models import ToolRuleRow
from freshgate.app import run_sync
from tests.actions.conftest import check
from tests.conftest import write_doc

SRC = "id: policy\ntitle: Policy\nowner: dana\nlast_verified: -5d\nverified_by: dana"
CARD = "id: {id}\ntitle: {title}\nowner: dana\nlane: {lane}\nsources: [policy]\nlast_verified: -5d\ntools:\n{tools}"


def card(sop, name, tools, lane="approval"):
    write_doc(sop, f"{name}.md", CARD.format(id=name, title=name.replace("-", " ").title(), lane=lane, tools=tools),
              f"# {name}\n\n## Steps\n\n1. Do {name}.\n")


def rules(runtime):
    with Session(runtime.engine) as s:
        rows = s.exec(select(ToolRuleRow).order_by(ToolRuleRow.card_id, ToolRuleRow.position)).all()
        return [(r.card_id, r.card_version, r.pattern, r.conditions, r.lane) for r in rows]


def test_unparseable_conditions_fail_the_file_with_path_and_reason_and_the_rest_syncs(runtime, tmp_path):
    src, sop = tmp_path / "sources", tmp_path / "sop_cards"
    write_doc(src, "policy.md", SRC, "# Policy\n\n## Rule\n\nText.\n")
    card(sop, "good", "  - tool: stripe.refund\n    when: amount > 5 EUR\n    lane: forbidden")
    card(sop, "bad", "  - tool: stripe.refund\n    when: amount >> 5 EUR")
    card(sop, "bad-unit", "  - tool: stripe.refund\n    when: amount > 5 EUUR")
    report = run_sync(runtime, [src, sop])
    failed = dict(report.failed)
    assert set(failed) == {str(sop / "bad.md"), str(sop / "bad-unit.md")}
    assert failed[str(sop / "bad.md")].startswith("tools: entry 1 (stripe.refund): 'amount >> 5 EUR': >")
    assert "unknown unit 'EUUR'" in failed[str(sop / "bad-unit.md")]
    assert rules(runtime) == [("good", 1, "stripe.refund", ["amount > 5 EUR"], "forbidden")]


def test_the_table_follows_card_edits_in_the_same_transaction(runtime, client, tmp_path):
    src, sop = tmp_path / "sources", tmp_path / "sop_cards"
    write_doc(src, "policy.md", SRC, "# Policy\n\n## Rule\n\nText.\n")
    card(sop, "pay", "  - stripe.charge\n  - tool: stripe.refund\n    when: amount > 5 EUR\n    lane: forbidden",
         lane="automatic")
    run_sync(runtime, [src, sop])
    assert rules(runtime) == [("pay", 1, "stripe.charge", [], "automatic"),
                              ("pay", 1, "stripe.refund", ["amount > 5 EUR"], "forbidden")]
    assert check(client, "stripe.charge")["decision"] == "proceed"
    # front matter only (same body, same version): the rules still change, and the audit log shows it
    card(sop, "pay", "  - tool: stripe.charge\n    lane: approval\n    rollback: refund it", lane="automatic")
    report = run_sync(runtime, [src, sop])
    assert report.updated == [str(sop / "pay.md")]
    assert rules(runtime) == [("pay", 1, "stripe.charge", [], "approval")]
    a = check(client, "stripe.charge")
    assert a["decision"] == "needs_approval" and a["rollback"] == "refund it"
    assert check(client, "stripe.refund")["decision"] == "stop_and_ask"  # no longer governed
    audit = client.get("/v1/documents/pay/audit").json()
    assert audit[0]["action"] == "update_meta" and audit[0]["after"]["tools"][0]["lane"] == "approval"


def test_overlapping_rules_of_different_cards_warn_and_the_strictest_lane_governs(runtime, client, tmp_path):
    src, sop = tmp_path / "sources", tmp_path / "sop_cards"
    write_doc(src, "policy.md", SRC, "# Policy\n\n## Rule\n\nText.\n")
    card(sop, "small-refunds", "  - tool: stripe.refund\n    when: amount <= 100 EUR\n    lane: automatic\n"
                               "  - tool: stripe.payout\n    when: amount <= 100 EUR\n    lane: automatic")
    card(sop, "all-stripe", "  - tool: stripe.*\n    when: customer.segment in [enterprise]\n    lane: approval")
    card(sop, "big-refunds", "  - tool: stripe.refund\n    when: amount > 100 EUR\n    lane: forbidden")
    report = run_sync(runtime, [src, sop])
    assert report.failed == []
    warnings = [m for item, m in report.warnings if item == "tool rules"]
    assert len(warnings) == 3 and all("strictest lane wins" in w for w in warnings)
    assert not any("big-refunds" in w and "small-refunds" in w for w in warnings)  # disjoint amounts
    assert any("all-stripe: stripe.* when customer.segment in [enterprise] (approval)" in w and
               "small-refunds: stripe.refund when amount <= 100 EUR (automatic)" in w for w in warnings)
    a = check(client, "stripe.refund", {"amount": "50 EUR", "customer": {"segment": "enterprise"}})
    assert a["decision"] == "needs_approval" and [c["id"] for c in a["cards"]] == ["all-stripe"]
    assert {r["card"]: r["governing"] for r in a["rules"]} == {"all-stripe": True, "small-refunds": False}
    assert check(client, "stripe.refund", {"amount": "50 EUR", "customer": {"segment": "smb"}})["decision"] == "proceed"
    again = run_sync(runtime, [src, sop])
    assert [w for w in again.warnings if w[0] == "tool rules"] == []  # nothing changed: nothing to say again


def test_migration_backfills_rules_of_cards_registered_before_it(runtime, tmp_path):
    from sqlalchemy import text

    src, sop = tmp_path / "sources", tmp_path / "sop_cards"
    write_doc(src, "policy.md", SRC, "# Policy\n\n## Rule\n\nText.\n")
    card(sop, "old", "  - crm.update\n  - crm.*", lane="approval")
    run_sync(runtime, [src, sop])
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    with runtime.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")  # to just before the actions revision (later ones go down with it)
    with runtime.engine.begin() as conn:
        assert "tool_rule" not in {r[0] for r in conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            if conn.dialect.name == "postgresql"
            else "SELECT name FROM sqlite_master"))}
    db.migrate(runtime.engine)
    with Session(runtime.engine) as s:
        rows = s.exec(select(ToolRuleRow).order_by(ToolRuleRow.position)).all()
        assert [(r.card_id, r.pattern, r.is_glob, r.lane, r.lane_from_card) for r in rows] == [
            ("old", "crm.update", False, "approval", True), ("old", "crm.*", True, "approval", True)]
