"""Part: a search condition split into its shape and its values, so built SQL can be reused.

May import: sqlalchemy, stdlib. Building a SQLAlchemy statement and deriving its cache key cost
more than running the SQL itself (profiled: ~250 us of a ~350 us family-name search). A Part
carries `key` (everything that decides the SQL text: columns, operators, how many values) and
`values` (the rest); `build` turns one bind parameter per value into the clause. Two searches
with equal keys therefore have equal SQL, and a statement built once per key can be run again
with fresh values (run.py keeps such statements in a bounded cache).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from sqlalchemy import bindparam, not_, or_


@dataclass(frozen=True)
class Part:
    key: tuple
    values: tuple
    build: Callable[[Sequence], object]

    def clause(self):
        """The clause with this Part's own values bound in (for statements not cached)."""
        return self.build([bindparam(None, value) for value in self.values])


def part(key: tuple, values: tuple, build: Callable[[Sequence], object]) -> Part:
    return Part(key, tuple(values), build)


def constant(key: tuple, clause) -> Part:
    """A condition without values (the same SQL every time)."""
    return Part(key, (), lambda _binds: clause)


def either(parts: list[Part]) -> Part:
    """OR of the parts (one part stays itself)."""
    if len(parts) == 1:
        return parts[0]
    return Part(("or",) + tuple(p.key for p in parts), sum((p.values for p in parts), ()),
                lambda binds: or_(*_each(parts, binds)))


def negated(inner: Part) -> Part:
    return Part(("not", inner.key), inner.values, lambda binds: not_(inner.build(binds)))


def build_all(parts: list[Part], binds: Sequence) -> list:
    """The clauses of `parts`, handing each its slice of `binds` (one per value, in order)."""
    return _each(parts, binds)


def _each(parts: list[Part], binds: Sequence) -> list:
    out, start = [], 0
    for p in parts:
        out.append(p.build(binds[start:start + len(p.values)]))
        start += len(p.values)
    return out
