"""What a complete listing of the registry's updates vouches for, kept with its run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Watermark:
    """The newest last update post date a complete listing saw (`posted`) and every study
    posted that day (`nct_ids`, their own ids; empty: not kept, that day is read whole). A
    record published after that listing is posted that day or later, so the next listing
    starts there (`registry.updates`)."""

    posted: str
    nct_ids: frozenset[str]
