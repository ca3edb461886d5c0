"""An immutable mapping that a change copies only in part: a shared base dict plus the keys changed since.

The incremental review list (`reports.incremental`) keeps some 30k-entry indexes (rows, states and facts by
document id, review rows by document id). An update must not change what a request still rendering the old
list reads, and copying every index on every update was about 40 % of an update at 100k documents. An
`Overlay` shares its base dict with the overlays it was derived from and never writes to it; `changed`
returns a new overlay whose small change dict (`delta`) holds the new values and the removed keys. When
the change dict grows past an eighth of the base, the next `changed` folds it into a new base dict (one
copy, paid once per many updates). Every overlay is a consistent snapshot: a reader holding an old one sees
exactly what it saw when it got it, whatever is applied later.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, Mapping, ValuesView
from typing import Any

_GONE = object()  # a removed key in a change dict
_ABSENT = object()  # not in a change dict
COMPACT_MIN = 1024  # a change dict smaller than this is never folded into the base


class Overlay(Mapping):
    """A read-only mapping: `base` (never written) overlaid with `delta` (key -> new value, or removed)."""

    __slots__ = ("_base", "_delta", "_len")

    def __init__(self, base: Mapping | None = None, delta: dict | None = None, length: int | None = None) -> None:
        self._base = base if base is not None else {}
        self._delta = delta or {}
        self._len = length if length is not None else (
            len(self._base) if not self._delta else sum(1 for _ in self._keys()))

    @classmethod
    def of(cls, mapping: Mapping) -> "Overlay":
        """`mapping` as an overlay (an overlay as it is; a dict becomes the base, not copied: the caller must
        not write to it afterwards)."""
        return mapping if isinstance(mapping, Overlay) else cls(mapping)

    def __getitem__(self, key: Any) -> Any:
        v = self._delta.get(key, _ABSENT)
        if v is _ABSENT:
            return self._base[key]
        if v is _GONE:
            raise KeyError(key)
        return v

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of `key`, or `default`."""
        v = self._delta.get(key, _ABSENT)
        if v is _ABSENT:
            return self._base.get(key, default)
        return default if v is _GONE else v

    def __contains__(self, key: Any) -> bool:
        v = self._delta.get(key, _ABSENT)
        return key in self._base if v is _ABSENT else v is not _GONE

    def __len__(self) -> int:
        return self._len

    def _keys(self) -> Iterator:
        delta = self._delta
        for k in self._base:
            if k not in delta:
                yield k
        for k, v in delta.items():
            if v is not _GONE:
                yield k

    def __iter__(self) -> Iterator:
        return self._keys() if self._delta else iter(self._base)

    def _items(self) -> Iterator[tuple[Any, Any]]:
        delta = self._delta
        if not delta:
            yield from self._base.items()
            return
        for k, v in self._base.items():
            if k not in delta:
                yield k, v
        for k, v in delta.items():
            if v is not _GONE:
                yield k, v

    def items(self) -> ItemsView:
        """(key, value) pairs: the base's unchanged ones in its order, then the changed ones."""
        return _Items(self)

    def values(self) -> ValuesView:
        """Values in the order of `items`."""
        return _Values(self)

    def changed(self, updates: Iterable[tuple[Any, Any]] = (), removed: Iterable[Any] = ()) -> "Overlay":
        """A new overlay: this one with `removed` keys taken out, then `updates` set (this one is unchanged)."""
        base, delta, n = self._base, dict(self._delta), self._len

        def present(k: Any) -> bool:
            v = delta.get(k, _ABSENT)
            return k in base if v is _ABSENT else v is not _GONE

        for k in removed:
            if present(k):
                n -= 1
                delta[k] = _GONE
        for k, v in updates:
            if not present(k):
                n += 1
            delta[k] = v
        if len(delta) > max(COMPACT_MIN, len(base) // 8):
            merged = dict(base)
            for k, v in delta.items():
                if v is _GONE:
                    merged.pop(k, None)
                else:
                    merged[k] = v
            return Overlay(merged, None, len(merged))
        return Overlay(base, delta, n)

    def __repr__(self) -> str:
        return f"Overlay({len(self)} keys, {len(self._delta)} changed over a base of {len(self._base)})"


class _Items(ItemsView):
    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return self._mapping._items()


class _Values(ValuesView):
    def __iter__(self) -> Iterator[Any]:
        return (v for _, v in self._mapping._items())
