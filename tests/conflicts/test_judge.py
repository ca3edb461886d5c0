"""Judges on pairs that must and must not conflict."""

import pytest

from freshgate.config import ConflictSettings, Settings
from freshgate.conflicts.judge import (Evidence, JudgeUnavailable, LearnedJudge, Passage, RulesJudge, Verdict,
                                       make_judge)
from freshgate.embeddings.embedder import HashingEmbedder

MUST_CONFLICT = [
    ("Refunds for monthly plans are available within 30 days of purchase.",
     "Refunds for monthly plans are available within 14 days of purchase."),
    ("Discounts above €5,000 need approval from the sales director.",
     "Discounts above €10,000 need approval from the sales director."),
    ("Orders placed before 5 p.m. CET ship the same day.", "Orders placed before 3 p.m. CET ship the same day."),
    ("Agents may share order status with customers by e-mail.",
     "Agents must not share order status with customers by e-mail."),
]
MUST_NOT_CONFLICT = [
    ("The refund window is 30 days.", "The delivery time is 14 days."),                  # different subjects
    ("The storage quota is 10 GB per team.", "The storage quota is 10 users per team."),  # same number, other unit
    ("Delivery takes 3–5 business days.", "Delivery takes 4 business days."),             # range contains value
    ("Refunds are available within 30 days.", "Refunds for annual plans are available within 14 days."),
    ("Refunds are available within 30 days unless the item was customised.",
     "Refunds are available within 30 days."),
    ("Agents may offer up to 15% off.", "Agents offered 10% off to this customer."),        # value within limit
]


def pairs(rows):
    return [(Passage(a, doc_id="a"), Passage(b, doc_id="b")) for a, b in rows]


def test_rules_flags_refund_window_with_readable_evidence():
    v = RulesJudge().judge_many(pairs(MUST_CONFLICT[:1]))[0]
    assert v.conflict is True and v.judge == "rules"
    assert v.evidence == [Evidence("Refunds for monthly plans", "30 days", "14 days", "duration")]
    assert "30 days vs 14 days" in v.explanation and len(v.explanation) < 120


@pytest.mark.parametrize("a, b", MUST_CONFLICT)
def test_rules_conflicts(a, b):
    assert RulesJudge().judge_many(pairs([(a, b)]))[0].conflict is True


@pytest.mark.parametrize("a, b", MUST_NOT_CONFLICT + [(MUST_CONFLICT[0][0], MUST_CONFLICT[0][0])])
def test_rules_no_conflict(a, b):
    v = RulesJudge().judge_many(pairs([(a, b)]))[0]
    assert v.conflict is False and v.evidence == []


def test_learned_judge_loads_shipped_weights_and_decides():
    judge = make_judge(Settings(), HashingEmbedder())
    assert isinstance(judge, LearnedJudge)
    verdicts = judge.judge_many(pairs([MUST_CONFLICT[0], (MUST_CONFLICT[0][0], MUST_CONFLICT[0][0])]))
    assert all(isinstance(v, Verdict) and 0.0 <= v.score <= 1.0 for v in verdicts)
    assert verdicts[0].conflict is True and "30 days vs 14 days" in verdicts[0].explanation
    assert verdicts[1].conflict is False


def test_learned_judge_uses_given_embeddings():
    judge = make_judge(ConflictSettings(), HashingEmbedder())
    emb = HashingEmbedder().encode(["x", "y"])
    out = judge.judge_many(pairs(MUST_NOT_CONFLICT[:2]), emb_a=emb, emb_b=emb[::-1])
    assert len(out) == 2


def test_learned_judge_missing_weights_is_a_clear_error(tmp_path):
    judge = LearnedJudge(HashingEmbedder(), model_path=tmp_path / "none.json")
    with pytest.raises(JudgeUnavailable, match="train"):
        judge.judge_many(pairs(MUST_CONFLICT[:1]))


def test_nli_judge_without_model_path_says_what_to_set(tmp_path):
    with pytest.raises(JudgeUnavailable, match="nli_model_path"):
        make_judge(ConflictSettings(judge="nli"), HashingEmbedder())
    with pytest.raises(JudgeUnavailable, match="nli_model_path"):
        make_judge(ConflictSettings(judge="nli", nli_model_path=str(tmp_path / "missing")), HashingEmbedder())


def test_unknown_judge_name_is_rejected():
    with pytest.raises(JudgeUnavailable, match="unknown conflict judge"):
        make_judge(ConflictSettings(judge="magic"), HashingEmbedder())


def test_evaluate_pairs_reports_precision_recall_by_kind(tmp_path):
    import json

    from freshgate.conflicts.evaluate import evaluate_pairs, render_pairs_table

    rows = [("c1", MUST_CONFLICT[0], "conflict", "misinformation"),
            ("n1", MUST_NOT_CONFLICT[0], "no_conflict", "ambiguity"),
            ("n2", MUST_NOT_CONFLICT[2], "no_conflict", "agreeing"),
            ("c2", ("The office opens at 9.", "The office is in Lyon."), "conflict", "implicit/different")]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps({"id": i, "a": {"title": "", "text": a, "date": None},
                                          "b": {"title": "", "text": b, "date": None}, "label": lab, "kind": k,
                                          "origin": "test"}) for i, (a, b), lab, k in rows))
    result = evaluate_pairs(path, RulesJudge(), HashingEmbedder())
    assert result["overall"]["tp"] == 1 and result["overall"]["fn"] == 1 and result["overall"]["fp"] == 0
    assert result["overall"]["precision"] == 1.0 and result["overall"]["recall"] == 0.5
    assert result["by_kind"]["test:misinformation"]["recall"] == 1.0
    json.dumps(result)
    table = render_pairs_table(result)
    assert "overall" in table and "kind test:ambiguity" in table and "confusion" in table


POLICY = "## Refund window for monthly plans\n\nRefunds for monthly plans are available within {} days of the charge."
PRICES = "## Northwind {} prices\n\nNorthwind {} costs €{} per month, billed monthly."


def test_learned_judge_flags_matching_sections_with_a_changed_value():
    faq = POLICY.replace("## Refund", "## What is the refund").replace("plans\n", "plans?\n")
    v = make_judge(Settings(), HashingEmbedder()).judge_many([(Passage(POLICY.format(30), anchor="refund-window"),
                                                              Passage(faq.format(14), anchor="faq"))])[0]
    assert v.conflict is True and "30 days vs 14 days" in v.explanation


def test_learned_judge_keeps_sections_about_different_products_apart():
    a, b = Passage(PRICES.format("Plus", "Plus", 9)), Passage(PRICES.format("Business", "Business", 49))
    v = make_judge(Settings(), HashingEmbedder()).judge_many([(a, b)])[0]
    assert v.conflict is False and v.evidence == []


def test_learned_judge_ignores_loosely_related_texts_without_a_shared_value():
    a = Passage("## Answer a where is my order question\n\nIt never sends a replacement; Support checks the parcel.")
    b = Passage("## Send a replacement\n\nIt covers the first replacement only; agents never refund shipping.")
    assert make_judge(Settings(), HashingEmbedder()).judge_many([(a, b)])[0].conflict is False


def test_scraped_spellings_of_one_value_are_not_a_replacement():
    from freshgate.conflicts.features import swapped_spans

    a = "Kensett is a city in Iowa. The city has a total area of 1.10 square miles (2.85 km²), all land."
    b = "Kensett is a city in Iowa. The city has a total area of 1.10 square miles ( 2.85 km 2 ) , all land ."
    assert swapped_spans(a, b) == []
    c = b.replace("2.85", "3.85")
    assert swapped_spans(a, c) == [("2", "3")]  # a real change still shows


def test_replaced_ordinary_words_inside_a_copy_are_shown_but_spellings_and_edges_are_not():
    from freshgate.conflicts.features import swapped_spans

    a = "Smith is an English footballer who plays as a defender for Leeds United and the national team."
    assert swapped_spans(a, a.replace("a defender", "a forward")) == [("defender", "forward")]
    assert swapped_spans("The club colours are red and white since 1904.",
                         "The club colors are red and white since 1904.") == []  # one word, two spellings
    assert swapped_spans(a, a.replace("national team", "national side")) == []  # last words: a fragment edge
    assert swapped_spans("It has four wheels and a roof.", "It has 4 wheels and a roof.") == []


def test_a_numbered_unit_is_not_a_negation():
    from freshgate.conflicts.features import flipped_sentences

    a = "It was planned to assign the squadron to No. 86 Wing. It was disbanded in 1946."
    b = "It was planned to assign the squadron to No . 86 Wing . It was disbanded in 1946 ."
    assert flipped_sentences(a, b) == []
    assert flipped_sentences(a, a.replace("It was disbanded", "It was not disbanded"))[0][2] == "negation"


def test_learned_judge_reports_only_what_it_can_show(monkeypatch):
    """A high score without a swapped value or a negated sentence is not reported as a conflict."""
    from freshgate.conflicts import features

    judge = LearnedJudge(HashingEmbedder())
    monkeypatch.setattr(features.PairModel, "predict", lambda self, X: [0.99] * len(X))
    # Three statements: passages of up to two are the statement judge's (tests/conflicts/test_statements.py).
    a = ("Navigation Home About. The museum opened in the old harbour warehouse and shows ship models from the region. "
         "Guided tours start at the main entrance every Sunday.")
    v = judge.judge_many([(Passage(a), Passage(a + " Categories: museums, harbours"))])[0]
    assert v.conflict is False and "no single value" in v.explanation
    v = judge.judge_many([(Passage(a), Passage(a.replace("shows ship", "shows aircraft")))])[0]
    assert v.conflict is True and v.evidence[0].a == "ship" and v.evidence[0].b == "aircraft"


def test_a_number_replaced_inside_a_short_copy_is_a_conflict_with_that_evidence():
    a = Passage("Julian Lewis Jones (born 21 August 1968) is a Welsh actor.")
    b = Passage("Julian Lewis Jones (born 27 August 1968) is a Welsh actor.")
    v = LearnedJudge(HashingEmbedder()).judge_many([(a, b)])[0]
    assert v.conflict is True and (v.evidence[0].a, v.evidence[0].b) == ("21", "27")
    same = Passage("Julian Lewis Jones (born 21 August 1968) is a Welsh actor and singer.")
    assert LearnedJudge(HashingEmbedder()).judge_many([(a, same)])[0].conflict is False


def tiny_cross_encoder(path, winner: str):
    """A real (tiny, randomly initialised) BERT cross-encoder saved locally, whose classifier always
    prefers `winner`; labels are ordered so that 'contradiction' is not index 0."""
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = "[PAD] [UNK] [CLS] [SEP] [MASK] refunds are available within 30 14 days the . of purchase".split()
    path.mkdir(parents=True)
    (path / "vocab.txt").write_text("\n".join(words) + "\n")
    labels = ["entailment", "neutral", "contradiction"]
    cfg = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, num_labels=3,
                     id2label=dict(enumerate(labels)), label2id={v: k for k, v in enumerate(labels)})
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([5.0 if lab == winner else 0.0 for lab in labels]))
    model.save_pretrained(path)
    BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True).save_pretrained(path)
    return path


def test_nli_judge_loads_a_local_cross_encoder_and_reads_its_contradiction_label(tmp_path):
    model = tiny_cross_encoder(tmp_path / "nli", "contradiction")
    judge = make_judge(ConflictSettings(judge="nli", nli_model_path=str(model)), HashingEmbedder())
    [v] = judge.judge_many(pairs(MUST_CONFLICT[:1]))
    assert v.judge == "nli" and v.conflict is True
    assert v.score == pytest.approx(1 / (1 + 2 * 2.718281828 ** -5), rel=1e-3)  # softmax of (0, 0, 5)
    assert "30 days vs 14 days" in v.explanation  # claims explain what the model flagged


def test_nli_judge_does_not_report_entailment(tmp_path):
    model = tiny_cross_encoder(tmp_path / "nli", "entailment")
    [v] = make_judge(ConflictSettings(judge="nli", nli_model_path=str(model)), HashingEmbedder()).judge_many(
        pairs(MUST_CONFLICT[:1]))
    assert v.conflict is False and v.evidence == [] and v.score < 0.01
    assert "contradiction probability" in v.explanation
