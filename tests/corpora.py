"""Where the real registry records are. They were copied from other public projects, so this
repository holds none of them: they are read from the shared folder beside the checkout
(`../shared/corpora`, as CI has it) or from the folder named by `CTGOV_CORPORA`, and the tests
that need them skip with one line saying so where neither is there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPORA_VARIABLE = "CTGOV_CORPORA"
TIGIT = "clinicaltrial-watch-tigit"  # 117 versions of 52 trials, Feb-Mar 2026 (API v2 JSON)


def corpora_folder() -> Path:
    named = os.environ.get(CORPORA_VARIABLE)
    return Path(named) if named else ROOT.parent / "shared" / "corpora"


def tigit_records() -> Path:
    """`<NCT id>/<capture date>.json` for each version of each trial."""
    return corpora_folder() / TIGIT / "records"


def tigit_files() -> list[Path]:
    return sorted(tigit_records().glob("*/*.json"))


def tigit_file(nct_id: str, date: str) -> Path:
    return tigit_records() / nct_id / f"{date}.json"


MISSING = (
    f"real records not found at {tigit_records()} "
    f"(set {CORPORA_VARIABLE} to a folder holding {TIGIT}/records)"
)
needs_tigit = pytest.mark.skipif(not tigit_records().is_dir(), reason=MISSING)
