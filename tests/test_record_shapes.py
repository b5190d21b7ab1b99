"""Any JSON shape in any field of a record is that trial's error, never the run's (issue 22):
a hypothesis strategy puts wrong types, NaN and Infinity, control characters, impossible dates,
paths and deep nesting anywhere in a real record, then runs it through check (the loopback
registry) and import, and the result through history, report, feeds, CSV and the digest."""

from __future__ import annotations

import copy
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.clock import days_ago
from tests.conftest import (
    NO_REGISTRY,
    CliResult,
    cli_environment,
    load_seed,
    run_in_process,
    study_with_id,
)
from tests.registry_server import RegistryServer

A, B = "NCT00000001", "NCT00000002"
DEEP = "__deeply_nested__"
UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

hostile_text = st.lists(
    st.sampled_from(["a", " ", "\x00", "\x1b[31m", "\x07", "\u0085", "\ud800", "é", "<"]),
    max_size=8,
).map("".join)
hostile_value = st.one_of(
    hostile_text,
    st.sampled_from(
        [
            *("2026-02-30", "../../outside-evil", "NCT99999999 <!channel> @everyone"),
            days_ago(-365),  # a date after today, as a post date or any other
        ]
    ),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.none(), hostile_text, st.integers()), max_size=3),
    st.dictionaries(hostile_text, st.one_of(st.none(), hostile_text), max_size=2),
    st.just(DEEP),
)


@st.composite
def hostile_records(draw: Any) -> tuple[dict[str, Any], int]:
    """The seed with one value somewhere in it replaced by a hostile one, and how deep to
    nest where the value is `DEEP` (in the JSON text: too deep for Python to build)."""
    study = copy.deepcopy(load_seed())
    parent: Any = study
    key: Any = draw(st.sampled_from(sorted(parent)))
    while isinstance(parent[key], dict | list) and parent[key] and draw(st.integers(0, 4)):
        parent = parent[key]
        keys = sorted(parent) if isinstance(parent, dict) else range(len(parent))
        key = draw(st.sampled_from(keys))
    parent[key] = draw(hostile_value)
    return study, draw(st.sampled_from([50, 900, 200_000]))


def as_json_text(study: dict[str, Any], depth: int) -> str:
    return json.dumps(study).replace(f'"{DEEP}"', "[" * depth + "]" * depth)


@pytest.fixture(scope="module")
def served() -> Iterator[RegistryServer]:
    """One loopback registry for every example (a fixture per example would be too slow)."""
    server = RegistryServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def imported_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with A and B watched and their baselines imported."""
    home = tmp_path_factory.mktemp("imported") / "home"
    seed = home.parent / "seed.json"
    seed.write_text(json.dumps({"studies": [study_with_id(A), study_with_id(B)]}))
    assert run_cli(home, "watch", "add", "--no-verify", A, B).code == 0
    assert run_cli(home, "import", str(seed), "--as-of", "2026-01-01").code == 0
    return home


@pytest.fixture(scope="module")
def checked_home(tmp_path_factory: pytest.TempPathFactory, served: RegistryServer) -> Path:
    """A data folder with A and B watched and their baselines checked: the next check is a
    daily one, which asks for update dates first."""
    home = tmp_path_factory.mktemp("checked") / "home"
    served.put(study_with_id(A), study_with_id(B))
    assert run_cli(home, "watch", "add", A, B, registry=served).code == 0
    assert run_cli(home, "check", registry=served).code == 0
    return home


def assert_never_broken(home: Path, out: Path) -> None:
    """Every reader of what was stored works and shows nothing it may not: no internal error,
    no NaN in JSON, no control character in HTML, XML, CSV or mail."""
    changes = run_cli(home, "changes", "--json")
    assert changes.code == 0, changes.stderr
    json.loads(changes.stdout, parse_constant=lambda name: pytest.fail(f"{name} in --json"))
    for args in (
        ("history", A, "--html", str(out / "history.html")),
        ("history", A, "--json"),
        ("changes", "--csv"),
        ("report", "--out", str(out / "report")),
        ("digest",),
    ):
        result = run_cli(home, *args)
        assert result.code == 0, (args, result.stderr)
        assert "internal error" not in result.stderr
        assert not UNPRINTABLE.search(result.stdout), args
    written = [*out.rglob("*.html"), *out.rglob("*.atom"), *(home / "outbox").glob("*.eml")]
    assert written
    for path in written:
        assert not UNPRINTABLE.search(path.read_text(encoding="utf-8")), path


shapes = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _control_character_key() -> dict[str, Any]:
    """Found by the test below: a key with a control character reached the Atom feed."""
    study = copy.deepcopy(load_seed())
    study["protocolSection"]["contactsLocationsModule"]["centralContacts"] = {"\x00": None}
    return study


def _control_character_status() -> dict[str, Any]:
    """Found by the test below: an overall status (a code, not folded as text was) of a
    control character reached the Atom feed."""
    study = copy.deepcopy(load_seed())
    study["protocolSection"]["statusModule"]["overallStatus"] = "\x00"
    return study


@shapes
@given(case=hostile_records())
@example(case=(_control_character_key(), 50))
@example(case=(_control_character_status(), 50))
def test_any_record_shape_through_import_is_that_trials_error_at_worst(
    imported_home: Path, case: tuple[dict[str, Any], int]
) -> None:
    study, depth = case
    with tempfile.TemporaryDirectory() as folder:
        home, out = Path(folder) / "home", Path(folder) / "out"
        shutil.copytree(imported_home, home)
        study = study_with_id(A, study) if _has_id(study) else study
        (Path(folder) / "a.json").write_text(as_json_text(study, depth))
        result = run_cli(home, "import", str(Path(folder) / "a.json"), "--as-of", "2026-02-01")
        assert result.code in (0, 1, 2), result.stderr
        assert "internal error" not in result.stderr
        out.mkdir()
        assert_never_broken(home, out)


@shapes
@given(case=hostile_records())
def test_any_record_shape_from_the_registry_is_that_trials_error_at_worst(
    checked_home: Path, served: RegistryServer, case: tuple[dict[str, Any], int]
) -> None:
    study, depth = case
    with tempfile.TemporaryDirectory() as folder:
        home, out = Path(folder) / "home", Path(folder) / "out"
        shutil.copytree(checked_home, home)
        served.put(study_with_id(B))
        record = study_with_id(A, study) if _has_id(study) else study
        served.put_raw(A, as_json_text(record, depth))
        result = run_cli(home, "check", "--json", registry=served)
        assert "internal error" not in result.stderr
        assert result.code in (0, 1), result.stderr
        outcome = json.loads(result.stdout)
        assert {error["nct_id"] for error in outcome["errors"]} <= {A}
        assert outcome["checked"] + len(outcome["errors"]) == 2  # B is always checked
        out.mkdir()
        assert_never_broken(home, out)


def run_cli(home: Path, *args: str, registry: RegistryServer | None = None) -> CliResult:
    url = registry.url if registry else NO_REGISTRY  # import and reports: none to ask
    return run_in_process(args, env=cli_environment(home, registry_url=url), cwd=home.parent)


def _has_id(study: Any) -> bool:
    """Whether the hostile value spared the record's id (then it keeps A's)."""
    try:
        return isinstance(study["protocolSection"]["identificationModule"]["nctId"], str)
    except (KeyError, TypeError):
        return False
