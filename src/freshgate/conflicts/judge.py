"""Judges decide whether two passages that are about the same thing disagree.

`make_judge(settings, embedder)` builds the configured one: `learned` (default: claim
evidence + pair features + a small numpy classifier), `rules` (claim alignment only), `nli`
(a local cross-encoder) or `llm` (an OpenAI-compatible endpoint). A verdict with
`conflict=None` is undecided; callers treat it as not a conflict.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from freshgate.conflicts import claims as cl
from freshgate.conflicts.verdicts import Evidence, Passage, Verdict  # noqa: F401 - re-exported

log = logging.getLogger(__name__)
MODEL_FILE = Path(__file__).with_name("judge_model.json")
# Word-sequence overlap above which two passages are one text rewritten (chosen on the dev set:
# the classifier's conflicts below it were mostly different texts about related things).
NEAR_COPY = 0.6


class JudgeUnavailable(RuntimeError):
    """The judge cannot run (missing model, endpoint not configured)."""


class Judge(Protocol):
    """Decides candidate pairs; embeddings are optional (computed with the judge's embedder if missing)."""

    name: str

    def judge_many(self, pairs: list[tuple[Passage, Passage]], emb_a: np.ndarray | None = None,
                   emb_b: np.ndarray | None = None) -> list[Verdict]:
        """One verdict per pair, in order."""
        ...


def claim_evidence(a: Passage, b: Passage) -> list[Evidence]:
    """Differing values about the same subject, found by aligning the two passages' claims.

    Headings are the authors' own word for the subject. Headings that share words but each add a
    qualifier the other lacks name different things, so their values never disagree. Headings with
    no word in common may be the same subject worded differently ("Data retention" / "Call
    recordings"): there two values are aligned only when their clauses share two subject words and
    neither subject names anything the other clause or heading does not.
    """
    ha, hb = cl.heading_words(a.text, a.anchor), cl.heading_words(b.text, b.anchor)
    apart = not cl.same_topic(ha, hb)
    if apart and ha & hb:
        return []  # one subject, different qualifiers: "Discount limits for support agents" / "... for team leads"
    out, seen = [], set()
    for ca, cb in cl.disagreements(cl.extract_cached(a.text), cl.extract_cached(b.text), strict=apart, context=(ha, hb)):
        key = (ca.kind, ca.value, ca.high, cb.value, cb.high)  # "30 days" and "30-day" are one value
        if key not in seen:
            seen.add(key)
            out.append(Evidence(ca.subject or cb.subject, ca.text, cb.text, ca.kind))
    return out


def explain(evidence: Sequence[Evidence], limit: int = 2) -> str:
    """A one-line summary a person reads in seconds: 'refund window: 30 days vs 14 days'."""
    parts = [f"{e.subject}: {e.a} vs {e.b}" if e.subject else f"{e.a} vs {e.b}" for e in evidence[:limit]]
    more = f" (+{len(evidence) - limit} more)" if len(evidence) > limit else ""
    return "; ".join(parts) + more


def _embed(embedder, pairs, emb_a, emb_b) -> tuple[np.ndarray, np.ndarray]:
    if emb_a is None:
        emb_a = embedder.encode([a.text for a, _ in pairs])
    if emb_b is None:
        emb_b = embedder.encode([b.text for _, b in pairs])
    return np.asarray(emb_a, dtype=np.float32), np.asarray(emb_b, dtype=np.float32)


class RulesJudge:
    """Conflict when aligned claims (same subject, same kind and unit) state incompatible values."""

    name = "rules"

    def __init__(self, embedder=None) -> None:
        self.embedder = embedder

    def judge_many(self, pairs, emb_a=None, emb_b=None) -> list[Verdict]:
        """Claim alignment only; embeddings are not needed."""
        out = []
        for a, b in pairs:
            ev = claim_evidence(a, b)
            if ev:
                out.append(Verdict(True, 0.9, ev, self.name, explain(ev)))
            else:
                out.append(Verdict(False, 0.1, [], self.name, "no differing values about the same subject"))
        return out


class LearnedJudge:
    """Claim evidence and pair features scored by a small classifier shipped as numpy weights."""

    name = "learned"
    judges_self = True  # a passage paired with itself is read for sentences that contradict each other

    def __init__(self, embedder, threshold: float = 0.5, model_path: str | Path | None = None,
                 statement_threshold: float | None = None) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.model_path = Path(model_path) if model_path else MODEL_FILE
        self._model = None
        self._statements = None
        self.statement_threshold = statement_threshold

    @property
    def statements(self):
        """The sentence-level judge, loaded on first use."""
        if self._statements is None:
            from freshgate.conflicts.statement_judge import StatementJudge

            self._statements = StatementJudge(self.embedder, threshold=self.statement_threshold)
        return self._statements

    @property
    def model(self):
        """The classifier, loaded on first use."""
        if self._model is None:
            from freshgate.conflicts.features import PairModel

            if not self.model_path.is_file():
                raise JudgeUnavailable(f"learned judge weights {self.model_path} are missing; "
                                       "run `python -m freshgate.conflicts.train`")
            self._model = PairModel.load(self.model_path)
        return self._model

    def judge_many(self, pairs, emb_a=None, emb_b=None) -> list[Verdict]:
        """Two stages: aligned claims decide sections with matching headings, the classifier decides near-copies."""
        from freshgate.conflicts.features import NAMES, pair_features

        if not pairs:
            return []
        model = self.model
        out: list[Verdict | None] = [None] * len(pairs)
        todo: list[int] = []
        for i, (a, b) in enumerate(pairs):
            ha, hb = cl.heading_words(a.text, a.anchor), cl.heading_words(b.text, b.anchor)
            if " ".join(a.text.split()) == " ".join(b.text.split()):
                # The same words cannot disagree with each other, but their sentences can.
                out[i] = self.statements.judge_self(a.text, self.name)
            elif ha and hb and not cl.same_topic(ha, hb):
                # Different headings: only a value both clauses plainly attach to the same thing counts.
                ev = claim_evidence(a, b)
                out[i] = (Verdict(True, 0.9, ev, self.name, explain(ev)) if ev else
                          Verdict(False, 0.0, [], self.name, "headings name different subjects"))
            else:
                todo.append(i)
        if not todo:
            return out
        sub = [pairs[i] for i in todo]
        ea, eb = _embed(self.embedder, sub, None if emb_a is None else np.asarray(emb_a)[todo],
                        None if emb_b is None else np.asarray(emb_b)[todo])
        evidence = [claim_evidence(a, b) for a, b in sub]
        by_claims: set[int] = set()
        feats = np.stack([pair_features(a.text, b.text, ea[k], eb[k], len(evidence[k])) for k, (a, b) in enumerate(sub)])
        scores = model.predict(feats)
        for k, i in enumerate(todo):
            a, b = sub[k]
            ev, s, f = evidence[k], float(scores[k]), feats[k]
            headed = bool(cl.heading_words(a.text, a.anchor) and cl.heading_words(b.text, b.anchor))
            if ev and headed:
                # Same heading topic and a differing value about the same subject: the policy case.
                s = max(s, 0.9)
                by_claims.add(i)
            elif f[NAMES.index("seq_ratio")] < NEAR_COPY:
                # Without aligned values, only a rewrite of the same text (a swapped name, number or
                # negation) is evidence enough; two different texts that merely differ are not.
                s = min(s, 0.49 * self.threshold / 0.5)
            elif s < self.threshold and (numbers := _replaced_numbers(a.text, b.text)) and _only_numbers(a.text, b.text):
                # One text with a number replaced between unchanged words ("born 21 August" /
                # "born 27 August"): the model undervalues short copies, the evidence is plain.
                # Not when a name changed too ("the Pro plan costs €29" / "the Business plan costs
                # €49"): then the numbers belong to different things.
                s, ev = max(s, self.threshold), numbers
            hit = bool(s >= self.threshold)
            if hit and not ev:
                ev = _substitutions(a.text, b.text) or _flips(a.text, b.text)
            if hit and not ev:
                # Nothing a person could check in seconds (no swapped value, no negated sentence):
                # an unexplained score is not reported; false alarms cost more than a miss here.
                out[i] = Verdict(False, min(s, 0.49 * self.threshold / 0.5), [], self.name,
                                 "texts differ, but no single value or negation to show", raw=float(scores[k]))
                continue
            text = explain(ev) if ev else "no disagreement found"
            out[i] = Verdict(hit, s, ev if hit else [], self.name, text, raw=float(scores[k]))
        # Plain statements (up to two a side) are the statement judge's to decide: the near-copy
        # model's word swaps there ("has vs boasts", "To vs Let's") are rewording, not disagreement.
        # Aligned claims under matching headings and replaced numbers still stand.
        st = self.statements.judge_many([pairs[i] for i in todo], ea, eb)
        for k, i in enumerate(todo):
            v, w = out[i], st[k]
            if w is None:
                continue  # not plain statements: the claims and near-copy verdict stands
            if i in by_claims or (v.conflict and _numbers_only(v.evidence)):
                v.raw = max(v.raw if v.raw is not None else v.score, w.raw or 0.0)
            else:
                out[i] = Verdict(w.conflict, w.score, w.evidence, self.name, w.explanation, raw=w.raw)
        return out


def _numbers_only(evidence: Sequence[Evidence]) -> bool:
    """Whether every piece of evidence replaces a number with another ("5.0 % vs 4.6 %")."""
    return bool(evidence) and all(any(ch.isdigit() for ch in e.a) and any(ch.isdigit() for ch in e.b) for e in evidence)


def _replaced_numbers(a: str, b: str) -> list[Evidence]:
    """Numbers replaced between unchanged words of a near-copy, as evidence."""
    from freshgate.conflicts.features import replaced_numbers

    return [Evidence("replaced number", x, y, "number") for x, y in replaced_numbers(a, b)]


def _only_numbers(a: str, b: str) -> bool:
    """Whether every span a near-copy replaces holds a number or a month ("2006 January" / "2007 November")."""
    from freshgate.conflicts.features import swapped_spans

    def value(span: str) -> bool:
        return any(ch.isdigit() for ch in span) or any(w.lower() in cl.MONTHS or w.lower() in cl.NUMW for w in span.split())
    return all(value(x) or value(y) for x, y in swapped_spans(a, b))


def _flips(a: str, b: str) -> list[Evidence]:
    """A sentence and its negated (or opposite) twin, as evidence."""
    from freshgate.conflicts.features import flipped_sentences

    return [Evidence(kind, x, y, kind) for x, y, kind in flipped_sentences(a, b)]


def _substitutions(a: str, b: str, limit: int = 3) -> list[Evidence]:
    """Names or numbers swapped between near-identical passages, as evidence."""
    from freshgate.conflicts.features import swapped_spans

    return [Evidence("replaced text", x, y, "entity") for x, y in swapped_spans(a, b)[:limit]]


class NLIJudge:
    """A local NLI cross-encoder: conflict when 'contradiction' wins in either direction."""

    name = "nli"

    def __init__(self, model_path: str | None, threshold: float = 0.5) -> None:
        if not model_path or not Path(model_path).exists():
            raise JudgeUnavailable(f"NLI judge needs a local cross-encoder model; "
                                   f"set conflicts.nli_model_path (got {model_path!r})")
        self.model_path = model_path
        self.threshold = threshold
        self._model = None

    def judge_many(self, pairs, emb_a=None, emb_b=None) -> list[Verdict]:
        """Contradiction probability, max over (a, b) and (b, a)."""
        if self._model is None:
            from sentence_transformers import CrossEncoder

            self._model = CrossEncoder(self.model_path, device="cpu", local_files_only=True)
        labels = {v.lower(): k for k, v in getattr(self._model.config, "id2label", {}).items()}
        ci = labels.get("contradiction", 0)
        inputs = [(a.text, b.text) for a, b in pairs] + [(b.text, a.text) for a, b in pairs]
        logits = np.asarray(self._model.predict(inputs, apply_softmax=False))
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs = (probs / probs.sum(1, keepdims=True))[:, ci]
        n, out = len(pairs), []
        for i, (a, b) in enumerate(pairs):
            s = float(max(probs[i], probs[n + i]))
            ev = claim_evidence(a, b) if s >= self.threshold else []
            out.append(Verdict(s >= self.threshold, s, ev, self.name,
                               explain(ev) if ev else f"contradiction probability {s:.2f}"))
        return out


LLM_PROMPT = """Two passages from a company's knowledge base are about related things. Do they CONTRADICT each
other (state incompatible facts about the same thing)? Different entities, different scopes (a rule and its
exception) or missing details are NOT contradictions. Answer with JSON only:
{"conflict": true | false | "unknown", "subject": "<what they disagree about>", "a": "<value in A>",
"b": "<value in B>", "explanation": "<one short sentence>"}"""


class LLMJudge:
    """An OpenAI-compatible chat endpoint asked for a JSON verdict, with timeouts and bounded retries."""

    name = "llm"

    def __init__(self, settings, transport=None, backoff: float = 0.5) -> None:
        if not settings.llm_url:
            raise JudgeUnavailable("LLM judge needs conflicts.llm_url (an OpenAI-compatible base URL)")
        import httpx

        headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
        self.client = httpx.Client(base_url=settings.llm_url.rstrip("/"), headers=headers,
                                   timeout=settings.llm_timeout, transport=transport)
        self.model, self.retries, self.backoff = settings.llm_model, max(0, settings.llm_retries), backoff

    def judge_many(self, pairs, emb_a=None, emb_b=None) -> list[Verdict]:
        """One request per pair; failures and unreadable answers give undecided verdicts."""
        return [self.judge_one(a, b) for a, b in pairs]

    def judge_one(self, a: Passage, b: Passage) -> Verdict:
        """Ask the endpoint about one pair."""
        body = {"model": self.model, "temperature": 0, "messages": [
            {"role": "system", "content": LLM_PROMPT},
            {"role": "user", "content": f"A ({a.title}):\n{a.text}\n\nB ({b.title}):\n{b.text}"}]}
        content, error = self._post(body)
        if content is None:
            return Verdict(None, 0.5, [], self.name, f"undecided: {error}")
        return _parse_llm(content, self.name)

    def _post(self, body: dict) -> tuple[str | None, str]:
        import httpx

        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                resp = self.client.post("/chat/completions", json=body)
            except httpx.TimeoutException:
                error = "LLM endpoint timed out"
            except httpx.HTTPError as exc:
                error = f"LLM endpoint unreachable: {exc}"
            else:
                if resp.status_code == 429 or resp.status_code >= 500:
                    error = f"LLM endpoint answered {resp.status_code}"
                elif resp.status_code >= 400:
                    return None, f"LLM endpoint refused the request ({resp.status_code})"
                else:
                    try:
                        return resp.json()["choices"][0]["message"]["content"], ""
                    except (ValueError, KeyError, IndexError, TypeError):
                        return None, "LLM endpoint sent an unreadable response"
            log.warning("llm judge attempt %d failed: %s", attempt + 1, error)
        return None, error


def _parse_llm(content: str, name: str) -> Verdict:
    """Read the model's JSON answer; anything else is undecided."""
    m = re.search(r"\{.*\}", content or "", re.S)
    try:
        data = json.loads(m.group(0)) if m else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("conflict"), bool):
        return Verdict(None, 0.5, [], name, "undecided: the model gave no clear answer")
    if not data["conflict"]:
        return Verdict(False, 0.0, [], name, str(data.get("explanation") or "no contradiction"))
    ev = [Evidence(str(data.get("subject") or ""), str(data.get("a") or ""), str(data.get("b") or ""), "llm")]
    return Verdict(True, 1.0, ev, name, str(data.get("explanation") or explain(ev)))


def make_judge(settings, embedder) -> Judge:
    """The judge named by `settings.conflicts.judge` (or a ConflictSettings' `judge`)."""
    cs = getattr(settings, "conflicts", settings)
    kind = cs.judge
    if kind == "learned":
        return LearnedJudge(embedder, threshold=cs.threshold)
    if kind == "rules":
        return RulesJudge(embedder)
    if kind == "nli":
        return NLIJudge(cs.nli_model_path, threshold=cs.threshold)
    if kind == "llm":
        return LLMJudge(cs)
    raise JudgeUnavailable(f"unknown conflict judge {kind!r}: use learned, rules, nli or llm")
