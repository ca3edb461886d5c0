"""Tool rules of SOP cards as pure functions: parse front matter entries, evaluate a tool call.

An SOP card's `tools:` list holds plain names (the old form: the card's lane, no conditions)
or rules:

    tools:
      - carrier.tracking                   # old form
      - tool: stripe.refund                # exact name, or a glob: stripe.*
        when: amount > 500 EUR and amount <= 5000 EUR   # one string, or a list; all must hold
        lane: approval                     # default: the card's lane
        owner: team-billing                # the tool's owner (default: the card's owner)
        log: Stripe dashboard > Payments > Refunds
        rollback: none - a sent refund cannot be reversed

A condition is `<parameter> <op> <value>`: the parameter is a dotted path into the call's
parameters (`customer.segment`); ops `> >= < <= == != in` and `not in`; a value is a number
with an optional unit or currency (`5000 EUR`, `€5,000`, `20%`, `14 days`, `2 GB`), a word or
quoted text, or for `in` a list `[enterprise, strategic]`. Words compare case-insensitively.

Evaluating a condition gives True, False or None (cannot tell: the parameter is missing, in
another unit or currency, or not a number). A bare number is read in the rule's unit, except
money: its currency must be known, from the value (`"7000 EUR"`) or from a `currency`
parameter next to it, because 7000 JPY is not 7000 EUR. A rule that cannot be told applies:
with several candidate rules the strictest lane wins, never the loosest.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

from freshgate.actions.quantities import Quantity, currency, parse_quantity  # noqa: F401 - re-exported

LANES = ("automatic", "approval", "forbidden")
LANE_RANK = {lane: i for i, lane in enumerate(LANES)}
_TOOL = re.compile(r"^[A-Za-z0-9_.*?:/\[\]-]{1,300}$")
_PARAM = r"[A-Za-z_][\w-]*(?:\.[\w-]+)*"
_SYMBOL_OP = re.compile(rf"^\s*(?P<param>{_PARAM})\s*(?P<op>>=|<=|==|!=|=|>|<)\s*(?P<value>.*?)\s*$")
_WORD_OP = re.compile(rf"^\s*(?P<param>{_PARAM})\s+(?P<op>not\s+in|in)\s*(?P<value>\[.*\])\s*$", re.I)
_AND = re.compile(r"\s+and\s+", re.I)
_ENTRY_KEYS = {"tool", "when", "lane", "owner", "log", "rollback"}
_ALIASES = {"name": "tool", "if": "when", "conditions": "when", "log_location": "log"}

@dataclass(frozen=True)
class Condition:
    """One parsed condition on a call parameter."""

    param: str
    op: str  # > >= < <= == != in not_in
    value: Any  # Quantity | str, or a tuple of them for in / not_in
    text: str


def _word(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        t = t[1:-1]
    return t.casefold()


def _scalar(text: str) -> Quantity | str:
    q = parse_quantity(text)
    return q if q is not None else _word(text)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    out, cur, quote = [], [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == sep:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out


@lru_cache(maxsize=65536)
def parse_condition(text: str) -> Condition:
    """Parse `amount > 5000 EUR`, `customer.segment in [enterprise, strategic]`; ValueError naming the problem."""
    m = _WORD_OP.match(text)
    if m:
        op = "not_in" if m.group("op").lower().startswith("not") else "in"
        items = [i for i in _split_outside_quotes(m.group("value").strip()[1:-1], ",") if i.strip()]
        if not items:
            raise ValueError(f"{text!r}: the list after {m.group('op')} is empty")
        return Condition(m.group("param"), op, tuple(_scalar(i) for i in items), text.strip())
    m = _SYMBOL_OP.match(text)
    if not m:
        raise ValueError(f"cannot parse condition {text!r}: expected '<parameter> <op> <value>' with op one of "
                         "> >= < <= == != in, not in (e.g. 'amount > 5000 EUR', 'segment in [enterprise]')")
    op, raw = m.group("op"), m.group("value")
    op = "==" if op == "=" else op
    if not raw:
        raise ValueError(f"{text!r}: no value after {op}")
    if raw.lstrip().startswith("["):
        raise ValueError(f"{text!r}: a list needs 'in' or 'not in', not {op}")
    value = _scalar(raw)
    if op in (">", ">=", "<", "<=") and not isinstance(value, Quantity):
        raise ValueError(f"{text!r}: {op} needs a number (with an optional unit), not {raw.strip()!r}")
    return Condition(m.group("param"), op, value, text.strip())


def split_conditions(when: Any) -> list[str]:
    """`when` as written (a string, possibly joined with `and`, or a list of them) -> condition texts."""
    if when is None or when == "":
        return []
    parts = [when] if isinstance(when, str) else list(when) if isinstance(when, (list, tuple)) else None
    if parts is None:
        raise ValueError("when: must be a condition or a list of conditions")
    out: list[str] = []
    for p in parts:
        if not isinstance(p, (str, int, float)) or isinstance(p, bool):
            raise ValueError(f"when: {p!r} is not a condition")
        out.extend(s.strip() for s in _and_split(str(p)) if s.strip())
    return out


@lru_cache(maxsize=65536)
def _and_split(text: str) -> tuple[str, ...]:
    """Split on ` and ` outside quotes and brackets (the same texts recur across cards: computed once)."""
    if not _AND.search(text):
        return (text,)
    if not any(c in text for c in "'\"[]"):
        return tuple(_AND.split(text))
    out, cur, depth, quote, i = [], "", 0, None, 0
    while i < len(text):
        ch = text[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0 and (m := _AND.match(text, i)):
            out.append(cur)
            cur, i = "", m.end()
            continue
        cur += ch
        i += 1
    out.append(cur)
    return tuple(out)


def normalise_tools(raw: Any) -> list[Any]:
    """Validate a card's `tools:` front matter: names stay names, rules become normalised dicts; ValueError names the entry."""
    if raw is None:
        return []
    items = [raw] if isinstance(raw, (str, dict)) else raw
    if not isinstance(items, list):
        raise ValueError("must be a list of tool names or tool rules")
    out: list[Any] = []
    for i, item in enumerate(items, 1):
        if isinstance(item, str):
            name = item.strip()
            if not _TOOL.match(name):
                raise ValueError(f"entry {i}: {item!r} is not a tool name (letters, digits, . _ - : / and * ? globs)")
            out.append(name)
            continue
        if not isinstance(item, dict):
            raise ValueError(f"entry {i}: must be a tool name or a mapping with tool, when, lane, owner, log, rollback")
        entry = {_ALIASES.get(str(k), str(k)): v for k, v in item.items()}
        name = str(entry.get("tool") or "").strip()
        where = f"entry {i} ({name or '?'})"
        unknown = sorted(set(entry) - _ENTRY_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_ENTRY_KEYS))})")
        if not _TOOL.match(name):
            raise ValueError(f"{where}: tool: needs a tool name or glob such as stripe.refund or stripe.*")
        lane = entry.get("lane")
        if lane is not None and lane not in LANES:
            raise ValueError(f"{where}: lane: {lane!r} is not one of {', '.join(LANES)}")
        try:
            when = split_conditions(entry.get("when"))
            for c in when:
                parse_condition(c)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        rule: dict[str, Any] = {"tool": name, "when": when, "lane": lane}
        for key in ("owner", "log", "rollback"):
            v = entry.get(key)
            if v is not None and not isinstance(v, (str, int, float)):
                raise ValueError(f"{where}: {key}: must be text")
            text = str(v).strip() if v is not None else ""
            if len(text) > 2000:
                raise ValueError(f"{where}: {key}: longer than 2000 characters")
            rule[key] = text or None
        out.append(rule)
    return out


# ---- evaluation -----------------------------------------------------------------------------
_MISSING = object()


def _lookup(params: Mapping[str, Any], path: str) -> tuple[Any, Mapping[str, Any] | None]:
    """(value, the mapping holding it) of a dotted path; a flat key with dots also counts."""
    if path in params:
        return params[path], params
    node: Any = params
    parent: Mapping[str, Any] | None = None
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING, None
        parent, node = node, node[part]
    return node, parent


def _param_quantity(value: Any, parent: Mapping[str, Any] | None, rule: Quantity) -> Quantity | None:
    """The parameter as a quantity comparable with `rule`, or None when it cannot be compared."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        q = Quantity(float(value))
    elif isinstance(value, str):
        try:
            q = parse_quantity(value)
        except ValueError:
            return None
        if q is None:
            return None
    else:
        return None
    if q.dimension is None and rule.dimension is not None:
        if rule.dimension.startswith("money:"):
            code = parent.get("currency") if isinstance(parent, Mapping) else None
            iso = currency(code) if isinstance(code, str) else None
            if iso is None:
                return None  # a bare amount without a known currency cannot be compared
            return Quantity(q.value, f"money:{iso}")
        return Quantity(q.value * rule.factor, rule.dimension, rule.factor)
    if rule.dimension is None and q.dimension is not None:
        return None
    return q


def _as_word(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value.strip().casefold()
    return None


def _equals(value: Any, parent, target: Quantity | str) -> bool | None:
    if isinstance(target, Quantity):
        q = _param_quantity(value, parent, target)
        if q is None or q.dimension != target.dimension:
            return None if _as_word(value) is None or isinstance(value, (int, float)) else False
        return abs(q.value - target.value) < 1e-9
    word = _as_word(value)
    return None if word is None else word == target


def evaluate_condition(cond: Condition, params: Mapping[str, Any]) -> bool | None:
    """True / False, or None when it cannot be told (missing parameter, other unit or currency)."""
    value, parent = _lookup(params, cond.param)
    if value is _MISSING or value is None:
        return None
    if cond.op in ("in", "not_in"):
        hits = [_equals(value, parent, t) for t in cond.value]
        if any(h is True for h in hits):
            found: bool | None = True
        elif all(h is False for h in hits):
            found = False
        else:
            found = None
        return found if cond.op == "in" or found is None else not found
    if cond.op in ("==", "!="):
        eq = _equals(value, parent, cond.value)
        return eq if cond.op == "==" or eq is None else not eq
    q = _param_quantity(value, parent, cond.value)
    if q is None or q.dimension != cond.value.dimension:
        return None
    a, b = q.value, cond.value.value
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[cond.op]


@dataclass(frozen=True)
class ToolRule:
    """One rule of the permission table."""

    pattern: str  # lower-case tool name or glob
    conditions: tuple[str, ...] = ()
    lane: str = "approval"
    card_id: str = ""
    position: int = 0

    @property
    def is_glob(self) -> bool:
        """True when the pattern has wildcards."""
        return any(c in self.pattern for c in "*?[")

    def covers(self, tool: str) -> bool:
        """Whether the rule is about this tool (exact name or glob), case-insensitively."""
        t = tool.casefold()
        return fnmatch.fnmatchcase(t, self.pattern) if self.is_glob else t == self.pattern


@dataclass(frozen=True)
class RuleOutcome:
    """How one rule relates to a call: `match`, `no` (a condition is false) or `unknown`, with what could not be told."""

    rule: ToolRule
    status: str
    unknown: tuple[str, ...] = ()  # condition texts that could not be told


def evaluate_rule(rule: ToolRule, params: Mapping[str, Any]) -> RuleOutcome:
    """Evaluate every condition of a rule on a call's parameters."""
    unknown = []
    for text in rule.conditions:
        r = evaluate_condition(parse_condition(text), params)
        if r is False:
            return RuleOutcome(rule, "no")
        if r is None:
            unknown.append(text)
    return RuleOutcome(rule, "unknown" if unknown else "match", tuple(unknown))


@dataclass(frozen=True)
class Resolution:
    """The permission table's answer for one call, before freshness."""

    covered: bool  # some rule is about this tool
    lane: str | None  # strictest lane of the applicable rules; None when none applies
    applicable: tuple[RuleOutcome, ...]  # rules that match or cannot be told
    governing: tuple[RuleOutcome, ...]  # the applicable rules with the strictest lane


def strictest(lanes: Iterable[str]) -> str | None:
    """The strictest of some lanes (forbidden > approval > automatic)."""
    return max(lanes, key=LANE_RANK.__getitem__, default=None)


def resolve(rules: Sequence[ToolRule], tool: str, params: Mapping[str, Any]) -> Resolution:
    """Which rules apply to a call and which lane governs: a rule that cannot be told applies too."""
    mine = [r for r in rules if r.covers(tool)]
    outcomes = [evaluate_rule(r, params) for r in mine]
    applicable = tuple(o for o in outcomes if o.status != "no")
    lane = strictest(o.rule.lane for o in applicable)
    governing = tuple(o for o in applicable if o.rule.lane == lane)
    return Resolution(bool(mine), lane, applicable, governing)


def is_read_only(tool: str, verbs: Sequence[str]) -> bool:
    """The naming convention for read-only tools: the last `.` segment is a read verb, alone or before `_`
    (`orders.get`, `crm.search_contacts`, `orders.lookup`)."""
    last = re.split(r"[.:/]", tool.casefold())[-1]
    return any(last == v or last.startswith(v + "_") for v in verbs)
