"""Keyset paging (R4 http.html#paging): next/previous links stay correct while other clients
insert, update and delete: no duplicates, no pre-existing row skipped, a stable total."""
from __future__ import annotations

import base64
import json

import pytest
from search_seed import matches

from gateway.errors import BadRequest


def _patient(pid: str, family: str) -> dict:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}], "gender": "female"}


def _fill(store, count: int) -> list[str]:
    # families run backwards against ids, so that _sort=family differs from insertion order
    ids = [f"p{n:02d}" for n in range(count)]
    for n, pid in enumerate(ids):
        store.put(_patient(pid, f"Fam{count - n:02d}"))
    return ids


def _walk(store, first: dict, between=None) -> list[str]:
    seen, bundle, page = [], first, 0
    while bundle is not None:
        seen += matches(bundle)
        if between:
            between(page)
        page += 1
        bundle = store.follow(bundle, "next")
    return seen


@pytest.mark.parametrize("sort", ["", "_sort=family&", "_sort=-_lastUpdated&", "_sort=_lastUpdated&"])
def test_inserts_between_pages_neither_repeat_nor_shift_results(empty, sort):
    ids = _fill(empty, 10)
    first = empty.search("Patient", f"{sort}_count=3&gender=female")
    assert first["total"] == 10

    def insert(page):  # "Aaa..." sorts before every family, new ones are the most recent
        empty.put(_patient(f"new{page}a", f"Aaa{page}"))
        empty.put(_patient(f"new{page}b", f"Zzz{page}"))
    seen = _walk(empty, first, insert)
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    assert empty.search("Patient", "gender=female")["total"] == 18  # the new rows are there


@pytest.mark.parametrize("sort", ["", "_sort=-_lastUpdated&", "_sort=_lastUpdated&"])
def test_updates_between_pages_do_not_move_rows(empty, sort):
    ids = _fill(empty, 9)
    first = empty.search("Patient", f"{sort}_count=3")
    on_first = matches(first)
    unseen = [i for i in ids if i not in on_first]

    def update(page):  # touch one row already read and one not read yet
        if page == 0:
            empty.put(_patient(on_first[0], "Touched"))
            empty.put(_patient(unseen[-1], "Touched"))
    seen = _walk(empty, first, update)
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


def test_updated_content_is_served_and_deleted_rows_are_left_out(empty):
    ids = _fill(empty, 6)
    first = empty.search("Patient", "_count=2")
    empty.put(_patient("p05", "Renamed"))
    empty.delete("Patient", "p04")
    second = empty.follow(first, "next")
    third = empty.follow(second, "next")
    assert matches(second) == ["p02", "p03"]
    assert matches(third) == ["p05"]
    assert third["entry"][0]["resource"]["name"][0]["family"] == "Renamed"
    assert empty.follow(third, "next") is None
    assert ids[:2] == matches(first)


@pytest.mark.parametrize("sort", ["", "_sort=family&", "_sort=-_lastUpdated&", "_sort=family,-_lastUpdated&"])
def test_previous_links_walk_back_over_the_same_pages(empty, sort):
    _fill(empty, 8)
    forward, bundle = [], empty.search("Patient", f"{sort}_count=3")
    assert all(l["relation"] != "previous" for l in bundle["link"])
    while bundle is not None:
        forward.append(matches(bundle))
        last, bundle = bundle, empty.follow(bundle, "next")
    assert [len(p) for p in forward] == [3, 3, 2]
    # an update while paging back (lastUpdated changes, family does not) moves nothing; a
    # changed family would: sort values other than _lastUpdated are read as they are now
    touched = _patient("p01", "Fam07")
    touched["birthDate"] = "1990-01-01"
    empty.put(touched)
    backward, bundle = [], last
    while bundle is not None:
        backward.append(matches(bundle))
        bundle = empty.follow(bundle, "previous")
    assert backward == forward[::-1]
    # a page reached backwards links forward again
    middle = empty.follow(last, "previous")
    assert matches(empty.follow(middle, "next")) == forward[2]


def test_self_link_of_a_later_page_reproduces_it(empty):
    _fill(empty, 5)
    second = empty.follow(empty.search("Patient", "_count=2"), "next")
    again = empty.follow(second, "self")
    assert matches(again) == matches(second) == ["p02", "p03"]


def _token(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("page", [
    "garbage!!",
    _token(["not", "a", "dict"]),
    _token({"k": [], "pk": "1", "m": 5, "v": 5, "d": "n", "s": ""}),  # pk not an int
    _token({"k": [], "pk": 1, "m": 5, "v": 5, "d": "x", "s": ""}),  # bad direction
    _token({"k": [], "pk": 1, "m": 5, "v": 5, "d": "n"}),  # no sort signature
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),  # not UTF-8
])
def test_malformed_page_tokens_are_refused(empty, page):
    with pytest.raises(BadRequest) as caught:
        empty.search("Patient", [("_page", page)])
    assert caught.value.expression == ("_page",)


def test_page_token_of_another_sort_or_with_bad_values_is_refused(empty):
    _fill(empty, 4)
    nxt = next(l["url"] for l in empty.search("Patient", "_sort=birthdate&_count=1")["link"]
               if l["relation"] == "next")
    token = dict(p.split("=", 1) for p in nxt.split("?", 1)[1].split("&"))["_page"]
    with pytest.raises(BadRequest):
        empty.search("Patient", [("_sort", "family"), ("_page", token)])
    with pytest.raises(BadRequest):
        empty.search("Patient", [("_page", token)])  # no _sort: another key count
    cursor = json.loads(base64.urlsafe_b64decode(token + "==="))
    cursor["k"] = ["not-a-date"]
    with pytest.raises(BadRequest):
        empty.search("Patient", [("_sort", "birthdate"), ("_page", _token(cursor))])
