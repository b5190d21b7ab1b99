"""Train the zstd dictionary trialwatch compresses a trial's first snapshot with (a later
version is a delta against the one before and needs none).

    python bench/train_dictionary.py RECORDS_DIR monitor/store/records-v2.zdict

RECORDS_DIR holds API v2 study records (`*.json`), one per trial. The shipped
`monitor/store/records-v1.zdict` was trained on the 1,178 latest records of
partrita/clinicaltrial-watch-tigit (MIT licence, see tests/corpus/README.md) less the 52 trials
of the real-record corpus (`tests/corpora.py` finds it), which it is measured on. A dictionary
that has compressed a stored snapshot is needed to read it back for ever: a retrained one ships
under a new name and id, beside the old.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.corpora import tigit_records  # noqa: E402

SIZE = 64 * 1024  # 0.194 of the JSON on the corpus's first versions; 32 KB: 0.204, 110 KB: 0.185
LEVEL = 10


def main() -> None:
    folder, target = Path(sys.argv[1]), Path(sys.argv[2])
    held_out = {path.name for path in tigit_records().iterdir()}
    samples: list[bytes | bytearray | memoryview] = []
    for path in sorted(folder.glob("*.json")):
        study = json.loads(path.read_text(encoding="utf-8"))
        nct_id = study.get("protocolSection", {}).get("identificationModule", {}).get("nctId")
        if nct_id and nct_id not in held_out:
            samples.append(json.dumps(study, ensure_ascii=False).encode())
    dictionary = zstandard.train_dictionary(SIZE, samples, level=LEVEL)
    target.write_bytes(dictionary.as_bytes())
    size = len(dictionary.as_bytes())
    print(f"{len(samples)} records -> {target} ({size:,} B, id {dictionary.dict_id()})")


if __name__ == "__main__":
    main()
