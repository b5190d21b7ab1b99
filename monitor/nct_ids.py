"""An NCT id, however a user gives one: typed in any case, separated by commas or spaces,
or pasted as a study URL."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from monitor.errors import BadInput

NCT_ID = re.compile(r"NCT[0-9]{8}")  # ASCII digits only: \d would take "NCT٠٥٨٦٩٩٥٥"


def normalise_nct_id(text: str) -> str:
    """`nct05869955` or ` NCT05869955 ` -> `NCT05869955`; anything else is bad input."""
    candidate = text.strip().upper()
    if not NCT_ID.fullmatch(candidate):
        raise BadInput(f"not an NCT id: {text!r} (expected NCT followed by 8 digits)")
    return candidate


STUDY_HOSTS = frozenset(
    {"clinicaltrials.gov", "www.clinicaltrials.gov", "classic.clinicaltrials.gov"}
)
STUDY_PATH = re.compile(r"/(?:study|ct2/show)/(NCT[0-9]{8})\b", re.IGNORECASE)


def nct_ids_in(text: str) -> list[str]:
    """The ids in what a user pasted: ids separated by commas or spaces, or study URLs
    (`https://clinicaltrials.gov/study/NCT05869955?tab=history`, the classic `/ct2/show/`);
    anything else is bad input, named."""
    found = []
    for piece in re.split(r"[\s,;]+", text.strip()):
        if not piece:
            continue
        if "/" in piece:
            url = urlsplit(piece if "://" in piece else f"https://{piece}")
            study = STUDY_PATH.match(url.path)
            if (url.hostname or "").lower() not in STUDY_HOSTS or study is None:
                raise BadInput(f"not a ClinicalTrials.gov study URL: {piece!r}")
            piece = study.group(1)
        found.append(normalise_nct_id(piece))
    return found
