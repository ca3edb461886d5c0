"""The LLM judge against a fake OpenAI-compatible endpoint (httpx MockTransport)."""

import json

import httpx
import pytest

from freshgate.config import ConflictSettings
from freshgate.conflicts.judge import JudgeUnavailable, LLMJudge, Passage, make_judge
from freshgate.embeddings.embedder import HashingEmbedder

PAIR = (Passage("Refunds are available within 30 days."), Passage("Refunds are available within 14 days."))


def answer(content: str) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": content}}]})


def judge_with(handler, retries=2):
    settings = ConflictSettings(judge="llm", llm_url="http://llm.test/v1", llm_api_key="k", llm_retries=retries,
                                llm_timeout=1.0)
    return LLMJudge(settings, transport=httpx.MockTransport(handler), backoff=0.0)


def test_conflict_answer_becomes_evidence_and_request_is_well_formed():
    seen = []

    def handler(request):
        seen.append(request)
        return answer('```json\n{"conflict": true, "subject": "refund window", "a": "30 days", "b": "14 days",'
                      ' "explanation": "refund window: 30 days vs 14 days"}\n```')

    v = judge_with(handler).judge_many([PAIR])[0]
    assert v.conflict is True and v.judge == "llm"
    assert (v.evidence[0].subject, v.evidence[0].a, v.evidence[0].b) == ("refund window", "30 days", "14 days")
    assert v.explanation == "refund window: 30 days vs 14 days"
    req = seen[0]
    assert req.url.path == "/v1/chat/completions" and req.headers["authorization"] == "Bearer k"
    body = json.loads(req.content)
    assert "30 days" in body["messages"][1]["content"] and body["model"] == "gpt-4o-mini"


def test_no_conflict_answer():
    v = judge_with(lambda r: answer('{"conflict": false, "explanation": "different plans"}')).judge_many([PAIR])[0]
    assert v.conflict is False and v.evidence == []


@pytest.mark.parametrize("content", ["I think they might disagree.", '{"conflict": "unknown"}', "{not json", ""])
def test_garbage_or_unknown_answer_is_undecided(content):
    v = judge_with(lambda r: answer(content)).judge_many([PAIR])[0]
    assert v.conflict is None and "undecided" in v.explanation


def test_timeout_then_retry_succeeds():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        return answer('{"conflict": true, "subject": "refund window", "a": "30 days", "b": "14 days"}')

    v = judge_with(handler).judge_many([PAIR])[0]
    assert v.conflict is True and len(calls) == 2


def test_server_errors_exhaust_bounded_retries_then_undecided():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(500, text="boom")

    v = judge_with(handler, retries=2).judge_many([PAIR])[0]
    assert v.conflict is None and "500" in v.explanation
    assert len(calls) == 3  # first try + 2 retries, then it gives up


def test_client_error_is_not_retried():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(401, json={"error": "bad key"})

    v = judge_with(handler).judge_many([PAIR])[0]
    assert v.conflict is None and len(calls) == 1


def test_llm_judge_needs_a_url():
    with pytest.raises(JudgeUnavailable, match="llm_url"):
        make_judge(ConflictSettings(judge="llm"), HashingEmbedder())
