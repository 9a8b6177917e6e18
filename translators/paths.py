"""FHIR element paths used by profiles: get and set values in plain resource dicts. Pure.

May import: stdlib, translators.types. Grammar: steps separated by dots; a step is a name with
an optional index or filter: `name[0]`, `telecom[system=phone,use=home]`. Setting a path
creates what is missing (a filter's key=value pairs are written into the element it creates),
so one mapping line both reads and writes the same element.
"""
from __future__ import annotations

import re
from functools import lru_cache

from translators.types import TranslationError

_SPLIT = re.compile(r"[^.\[]+(?:\[[^\]]*\])?")
_STEP = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\]]+)\])?$")


@lru_cache(maxsize=None)
def compile_path(path: str) -> tuple[tuple[str, int | None, tuple[tuple[str, str], ...]], ...]:
    steps = []
    for raw in _SPLIT.findall(path):  # dots inside [...] (URLs in filters) do not split
        match = _STEP.match(raw)
        if not match:
            raise TranslationError(path, f"bad path step {raw!r}")
        name, selector = match.groups()
        if selector is None:
            steps.append((name, None, ()))
        elif selector.isdigit():
            steps.append((name, int(selector), ()))
        else:
            pairs = tuple(tuple(p.split("=", 1)) for p in selector.split(","))
            steps.append((name, None, pairs))
    return tuple(steps)


def _matches(item, pairs) -> bool:
    return isinstance(item, dict) and all(str(item.get(k)) == v for k, v in pairs)


def get_path(resource: dict, path: str):
    """The value at `path`, or None. A list step without a selector takes its first item."""
    current = resource
    for name, index, pairs in compile_path(path):
        if not isinstance(current, dict) or name not in current:
            return None
        value = current[name]
        if isinstance(value, list):
            if pairs:
                value = next((v for v in value if _matches(v, pairs)), None)
            else:
                i = index or 0
                value = value[i] if i < len(value) else None
        current = value
    return current


def remove_path(resource: dict, path: str) -> None:
    """Delete the element at `path` (nothing to do when it is absent), then every element the
    deletion left empty on the way up; a filtered list item (`telecom[system=phone]`) is dropped
    once only its filter's keys remain, so no value-less husk is left behind."""
    trail: list[tuple[object, object, tuple]] = []  # (container, key or index, filter pairs)
    current = resource
    for name, index, pairs in compile_path(path):
        if not isinstance(current, dict) or name not in current:
            return
        value = current[name]
        trail.append((current, name, ()))
        if isinstance(value, list):
            if pairs:
                position = next((i for i, v in enumerate(value) if _matches(v, pairs)), None)
            else:
                wanted = index or 0
                position = wanted if wanted < len(value) else None
            if position is None:
                return
            trail.append((value, position, pairs))
            value = value[position]
        current = value
    container, key, _pairs = trail.pop()
    del container[key]
    while trail:
        container, key, pairs = trail.pop()
        node = container[key]
        husk = isinstance(node, dict) and pairs and set(node) <= {k for k, _v in pairs}
        if node not in ({}, []) and not husk:
            return
        del container[key]


def set_path(resource: dict, path: str, value, list_fields: frozenset[str] = frozenset()) -> None:
    """Write `value` at `path`, creating elements; names in `list_fields` or with a selector
    are arrays in FHIR."""
    steps = compile_path(path)
    current = resource
    for position, (name, index, pairs) in enumerate(steps):
        last = position == len(steps) - 1
        is_list = index is not None or pairs or name in list_fields
        if not is_list:
            if last:
                current[name] = value
                return
            current = current.setdefault(name, {})
            continue
        items = current.setdefault(name, [])
        if pairs:
            found = next((v for v in items if _matches(v, pairs)), None)
            if found is None:
                found = dict(pairs)
                items.append(found)
        else:
            i = index or 0
            while len(items) <= i:
                items.append(None if last else {})
            if last:
                items[i] = value
                return
            if items[i] is None:
                items[i] = {}
            found = items[i]
        if last:
            raise TranslationError(path, "a filtered step cannot be the last step")
        current = found
