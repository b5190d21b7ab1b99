"""A `/studies` page read as it arrives (`StudiesStream`): whatever pieces the network cuts it
into, the same studies and the same rest of the page as reading it whole; a page that is not
strict JSON, refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.errors import MalformedResponse
from monitor.registry.answers import StudiesStream

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
PAGES = st.fixed_dictionaries(
    {"studies": st.lists(JSON_VALUES, max_size=5)},
    optional={"nextPageToken": st.text(), "totalCount": st.integers(min_value=0)},
)


def read_in_pieces(text: str, cuts: list[int]) -> tuple[list[Any], dict[str, Any]]:
    page, studies, start = StudiesStream(), [], 0
    for cut in sorted({min(cut, len(text)) for cut in cuts}):
        studies += page.feed(text[start:cut])
        start = cut
    studies += page.feed(text[start:], last=True)
    return studies, page.close()


@given(PAGES, st.sampled_from([None, 1]), st.lists(st.integers(min_value=0, max_value=400)))
def test_a_page_read_in_any_pieces_is_the_page_read_whole(
    page: dict[str, Any], indent: int | None, cuts: list[int]
) -> None:
    text = json.dumps(page, indent=indent, ensure_ascii=indent is None)
    studies, rest = read_in_pieces(text, cuts)
    whole = json.loads(text)
    assert studies == whole.pop("studies") and rest == whole


@given(PAGES, st.data())
def test_a_page_cut_short_is_refused(page: dict[str, Any], data: st.DataObject) -> None:
    text = json.dumps(page)
    end = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    with pytest.raises(MalformedResponse):
        read_in_pieces(text[:end], data.draw(st.lists(st.integers(min_value=0, max_value=end))))


@pytest.mark.parametrize(
    "text",
    [
        '{"studies": [1,, 2]}',
        '{"studies": [,1]}',
        '{"studies": [1 2]}',
        '{"studies": [1],}',
        '{,"studies": []}',
        '{"a" 1, "studies": []}',
        '{"studies": [NaN]}',
        '{"studies": [2x]}',
        '{"studies": 5}',
        '{"totalCount": 3}',
        '{"studies": []} trailing',
        "[]",
    ],
)
def test_what_is_not_a_page_is_refused(text: str) -> None:
    with pytest.raises(MalformedResponse):
        read_in_pieces(text, [len(text) // 2])
