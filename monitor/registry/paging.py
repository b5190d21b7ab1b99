"""Where a list answer of the registry goes on (`nextPageToken`), and where it must stop: a
list that would page forever is a malformed answer, never a hang."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

from monitor.errors import MalformedResponse


class Paging:
    """Where a list answer goes on: the parameters asking for the page after each, None after
    the last. A list that would page forever is a malformed answer: a token seen before, a
    page of no studies pointing to another, or more pages than its studies fill (as many as
    the ids asked for, or its `totalCount`, one page more for studies added while it is read;
    at most a million)."""

    MAX_PAGES = 1000  # 1,000,000 studies at the largest page size; the registry holds ~560,000

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.tokens: set[str] = set()
        ids = params.get("filter.ids")
        self.most = len(ids.split(",")) if isinstance(ids, str) else None  # studies it holds
        self.first_size = 0

    def after(self, page: dict[str, Any], *, studies: int) -> dict[str, Any] | None:
        token = page.get("nextPageToken")
        if not self.tokens:
            self.first_size = studies
            total = page.get("totalCount")
            if self.most is None and isinstance(total, int) and total >= 0:
                self.most = total
        if not token:
            return None
        if not isinstance(token, str) or token in self.tokens:
            raise MalformedResponse(f"malformed answer: page token {token!r} seen before")
        if not studies:
            raise MalformedResponse("malformed answer: a page of no studies points to another")
        pages = len(self.tokens) + 1
        if pages >= self.MAX_PAGES:
            raise MalformedResponse(f"malformed answer: more than {self.MAX_PAGES} pages")
        if pages > self._pages_it_fills():
            raise MalformedResponse(f"malformed answer: more pages than {self.most} studies fill")
        self.tokens.add(token)
        return {**self.params, "pageToken": token}

    def _pages_it_fills(self) -> int | float:
        if self.most is None or not self.first_size:
            return math.inf
        return -(-self.most // self.first_size) + 1


Counted = tuple[dict[str, Any], int]  # the rest of a page, and how many studies it had


def counted(answer: Generator[Any, None, dict[str, Any]]) -> Generator[Any, None, Counted]:
    """The studies of one page as they arrive; then the rest of the page and their number."""
    studies = 0
    while True:
        try:
            study = next(answer)
        except StopIteration as end:
            return end.value, studies
        studies += 1
        yield study
