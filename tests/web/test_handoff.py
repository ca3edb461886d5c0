"""Handing an unanswered topic to an owner: stored (who, to whom, when), shown on the unanswered page,
in the owner's "my items" and in the audit log (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from tests.web.conftest import HTML, submit

QUESTION = "xylophone quokka"


def _topic_id(client) -> int:
    r = client.post("/v1/lookup", json={"query": QUESTION})
    assert r.status_code == 200 and r.json()["decision"] == "stop_and_ask", r.text
    [topic] = [t for t in client.get("/v1/unanswered").json() if QUESTION in t["query"]]
    return topic["id"]


def test_operator_hands_a_topic_to_an_owner_who_sees_it_in_their_items(kb_rt, client, web, owner_web):
    topic = _topic_id(client)
    assert 'data-testid="handed-to-me"' not in owner_web.get("/review", headers=HTML).text
    r = submit(web, f"/unanswered/{topic}/assign", {"owner": "alice"}, page="/unanswered")
    assert r.status_code == 303 and r.headers["location"] == f"/unanswered?done=assigned&on=alice#topic-{topic}"
    page = web.get(r.headers["location"], headers=HTML).text
    assert "Handed the topic to alice" in page
    handed = re.search(rf'data-testid="assigned-{topic}">(.*?)</p>', page, re.S).group(1)
    assert "Handed to" in handed and "alice" in handed and "ops-console" in handed  # to whom, and who decided
    mine = owner_web.get("/review", headers=HTML).text
    assert 'data-testid="handed-to-me"' in mine and QUESTION in mine
    audit = web.get("/audit", params={"action": "assign_topic"}, headers=HTML).text
    assert "alice to write a source for: " + QUESTION in audit
    # handed on to bob: alice no longer has it, the page names bob
    submit(web, f"/unanswered/{topic}/assign", {"owner": "bob"}, page="/unanswered")
    assert QUESTION not in owner_web.get("/review", headers=HTML).text.split('data-testid="row-')[0]
    again = web.get("/unanswered", headers=HTML).text
    assert "bob" in re.search(rf'data-testid="assigned-{topic}">(.*?)</p>', again, re.S).group(1)


def test_a_hand_off_needs_an_active_owner_and_an_operator(kb_rt, client, web, owner_web):
    topic = _topic_id(client)
    unknown = submit(web, f"/unanswered/{topic}/assign", {"owner": "nobody-here"}, page="/unanswered")
    assert unknown.status_code == 404 and "no owner with id" in unknown.text
    assert submit(web, "/owners/carol/deactivate", {}, page="/owners").status_code == 303
    inactive = submit(web, f"/unanswered/{topic}/assign", {"owner": "carol"}, page="/unanswered")
    assert inactive.status_code == 422 and "inactive" in inactive.text
    token = re.search(r'name="csrf" value="([^"]+)"', owner_web.get("/review", headers=HTML).text).group(1)
    refused = owner_web.post(f"/unanswered/{topic}/assign", data={"csrf": token, "owner": "alice"}, headers=HTML)
    assert refused.status_code == 403
    assert f'data-testid="assigned-{topic}"' not in web.get("/unanswered", headers=HTML).text
