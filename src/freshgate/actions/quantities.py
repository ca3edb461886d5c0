"""Numbers with units and currencies in tool-rule conditions: `5000 EUR`, `€5,000`, `20%`, `14 days`, `2 GB`."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = r"[-+]?(?:\d{1,3}(?:[,_]\d{3})+|\d+)(?:\.\d+)?"
_QTY = re.compile(rf"^\s*(?P<pre>[€$£])?\s*(?P<num>{_NUMBER})\s*(?P<unit>[A-Za-z%€$£]+)?\s*$")

# unit -> (dimension, factor to the dimension's base). Money never converts between currencies.
_CURRENCIES = {"eur": "EUR", "€": "EUR", "usd": "USD", "$": "USD", "gbp": "GBP", "£": "GBP", "chf": "CHF",
               "nok": "NOK", "sek": "SEK", "dkk": "DKK", "pln": "PLN", "jpy": "JPY", "cad": "CAD", "aud": "AUD"}
_UNITS: dict[str, tuple[str, float]] = {
    "%": ("percent", 1.0), "percent": ("percent", 1.0), "pct": ("percent", 1.0),
    **{u: ("duration", 1.0) for u in ("s", "sec", "secs", "second", "seconds")},
    **{u: ("duration", 60.0) for u in ("min", "mins", "minute", "minutes")},
    **{u: ("duration", 3600.0) for u in ("h", "hr", "hrs", "hour", "hours")},
    **{u: ("duration", 86400.0) for u in ("d", "day", "days")},
    **{u: ("duration", 604800.0) for u in ("w", "wk", "week", "weeks")},
    **{u: ("duration", 2592000.0) for u in ("month", "months")},  # 30 days, as review_every
    **{u: ("duration", 31536000.0) for u in ("y", "yr", "year", "years")},
    "b": ("size", 1.0), "kb": ("size", 1e3), "mb": ("size", 1e6), "gb": ("size", 1e9), "tb": ("size", 1e12),
    "kib": ("size", 1024.0), "mib": ("size", 1024.0 ** 2), "gib": ("size", 1024.0 ** 3),
}


@dataclass(frozen=True)
class Quantity:
    """A number in a dimension (`money:EUR`, `percent`, `duration`, `size`; None = a bare number)."""

    value: float  # in the dimension's base unit (seconds, bytes, the currency itself)
    dimension: str | None = None
    factor: float = 1.0  # of the unit it was written in: a bare number is read in this unit


def _unit(text: str) -> tuple[str, float]:
    key = text.lower()
    if key in _CURRENCIES:
        return f"money:{_CURRENCIES[key]}", 1.0
    if key in _UNITS:
        return _UNITS[key]
    raise ValueError(f"unknown unit {text!r} (currencies: EUR, USD, GBP, CHF, ...; %, days, hours, GB, ...)")


def parse_quantity(text: str) -> Quantity | None:
    """`5000 EUR`, `€5,000`, `20%`, `14 days`, `7000` -> Quantity; None when it is not a number; ValueError for an unknown unit."""
    m = _QTY.match(text)
    if not m:
        return None
    number = float(m.group("num").replace(",", "").replace("_", ""))
    units = [u for u in (m.group("pre"), m.group("unit")) if u]
    if not units:
        return Quantity(number)
    dims = {_unit(u) for u in units}
    if len(dims) > 1:
        raise ValueError(f"{text.strip()!r} names two different units")
    dim, factor = dims.pop()
    return Quantity(number * factor, dim, factor)


def currency(code: str) -> str | None:
    """The ISO code of a currency name or symbol (`eur`, `€` -> `EUR`); None when unknown."""
    return _CURRENCIES.get(code.lower())
