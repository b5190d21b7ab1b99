"""Shared fixtures: the seed records, a loopback registry, and running the real CLI."""

from __future__ import annotations

import copy
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import pytest
from click.testing import CliRunner
from hypothesis import settings

from monitor.cli import run as cli_main
from monitor.jobs.check import store_study
from monitor.store import Store
from monitor.times import Clock, moment_of
from tests.clock import now, offset_environment
from tests.registry_server import RegistryServer
from tests.smtp_server import SmtpServer
from tests.webhook_server import WebhookServer

ROOT = Path(__file__).parent.parent
GOLDEN_DIR = Path(__file__).parent / "data"
SEED_DIR = ROOT / "seeds" / "NCT05869955"
SEED_FILES = sorted(SEED_DIR.glob("*.json"))
ANY_TIME = moment_of("2026-01-01T00:00:00Z")  # where when does not matter
# How long a test waits for what takes a second or two: a guard against a hang, never a
# measure, so that a loaded machine is slower, not red.
PATIENCE = 60
# Every change event has at least these keys (../shared/spec.md, "Change events").
SPEC_EVENT_KEYS = frozenset(
    {"nct_id", "detected_at", "category", "field", "site", "old", "new", "summary"}
)


# Property tests draw the same examples on every run (derandomized from each test's name), so
# that a red suite means a change broke something, never that today's draw found something
# older. `HYPOTHESIS_PROFILE=explore` draws fresh ones: run it now and then, and keep what it
# finds as an explicit @example.
settings.register_profile("suite", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


def load_seed(index: int = 0) -> dict[str, Any]:
    """A fresh copy of the seed story's version `index` (0 = the 2026-01-13 record)."""
    return cast(dict[str, Any], json.loads(SEED_FILES[index].read_text()))


def study_with_id(nct_id: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The seed record under another NCT id (for tests that need several trials)."""
    study = copy.deepcopy(base or load_seed())
    study["protocolSection"]["identificationModule"]["nctId"] = nct_id
    return study


def completed(nct_id: str) -> dict[str, Any]:
    """The seed under `nct_id` with its overall status moved to Completed: one simple change."""
    study = study_with_id(nct_id)
    study["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    return study


def stored_record(store: Store, nct_id: str) -> dict[str, Any]:
    """A copy of the raw record of a trial's latest snapshot, for a test to edit."""
    latest = store.snapshots.latest(nct_id)
    assert latest is not None, f"{nct_id} has no snapshot"
    return copy.deepcopy(latest.raw)


def locations(study: dict[str, Any]) -> list[dict[str, Any]]:
    sites = study["protocolSection"]["contactsLocationsModule"]["locations"]
    return cast(list[dict[str, Any]], sites)


def find_site(study: dict[str, Any], facility: str, *, contact: str = "") -> dict[str, Any]:
    return next(
        site
        for site in locations(study)
        if site["facility"] == facility
        and contact in " ".join(c["name"] for c in site.get("contacts", []))
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="Rewrite golden files from the current output (review the diff!).",
    )


@pytest.fixture
def assert_golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with `tests/data/<name>`; `pytest --update-goldens` rewrites it instead."""

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if request.config.getoption("--update-goldens"):
            path.write_text(text, encoding="utf-8")
        assert text == path.read_text(encoding="utf-8")

    return check


@pytest.fixture
def seed() -> dict[str, Any]:
    return load_seed()


@pytest.fixture
def story_store(tmp_path: Path) -> Iterator[Store]:
    """A database holding the whole seed story, each version checked on its own date."""
    store = Store.open(tmp_path / "story.db")
    for path in SEED_FILES:
        store_study(
            store,
            json.loads(path.read_text()),
            fetched_at=moment_of(f"{path.stem}T07:00:00Z"),
            source=f"file:{path.name}",
        )
    yield store
    store.close()


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    server = RegistryServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def kill_once_handed_over(
    spawn: Spawn,
    database: Path,
    server: Any,
    hook: str,
    *args: str,
    env: dict[str, str],
) -> None:
    """Run the CLI and kill -9 it as soon as `server` has the message (its `hook` fires), while
    the database is held so that it cannot record the delivery as sent."""
    blocker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    setattr(server, hook, lambda: blocker.execute("BEGIN IMMEDIATE"))
    process = spawn(*args, env=env)
    assert server.arrived.wait(PATIENCE)
    process.send_signal(signal.SIGKILL)
    process.wait()
    blocker.execute("ROLLBACK")
    blocker.close()
    setattr(server, hook, None)


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    server = WebhookServer().start()
    yield server
    server.stop()


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class Trialwatch(Protocol):
    """The `trialwatch` fixture: the CLI, called with its arguments."""

    def __call__(
        self, *args: str, env: dict[str, str] | None = ..., clock: Clock = ...
    ) -> CliResult: ...


Spawn = Callable[..., "subprocess.Popen[bytes]"]  # the `spawn_trialwatch` fixture


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


NO_REGISTRY = "http://127.0.0.1:9"  # the discard port: nothing listens, a request is refused


@pytest.fixture
def cli_env(home: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """The CLI's environment, with the loopback registry for a test that asks for one
    (`registry`); another test's CLI has none to ask."""
    needs_registry = "registry" in request.fixturenames
    url = request.getfixturevalue("registry").url if needs_registry else NO_REGISTRY
    return cli_environment(home, registry_url=url)


def cli_environment(home: Path, *, registry_url: str) -> dict[str, str]:
    """Environment for the CLI: its own data dir, the loopback registry, no politeness delays."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRIALWATCH_")}
    env.update(
        TRIALWATCH_HOME=str(home),
        TRIALWATCH_API_URL=registry_url,
        TRIALWATCH_HISTORY_URL=f"{registry_url}/api/int",
        TRIALWATCH_REQUEST_INTERVAL="0",
        TRIALWATCH_BACKOFF_BASE="0",
        TRIALWATCH_THROTTLE_WAIT="0",
        TRIALWATCH_MAX_ATTEMPTS="3",
        COLUMNS="200",
        AIOSMTPD_CONTROLLER_TIMEOUT="5",
        PYTHONPATH=str(ROOT),  # for `tests.clocked_cli`
        **offset_environment(),
    )
    return env


def cli_command(*args: str) -> list[str]:
    """The CLI as a process of its own, on the tests' clock (with `cli_environment`)."""
    return [sys.executable, "-m", "tests.clocked_cli", *args]


@pytest.fixture
def trialwatch(cli_env: dict[str, str], tmp_path: Path) -> Trialwatch:
    """Run the CLI in this process, as sqlite-utils' tests do (click's CliRunner isolation:
    its own stdin, stdout, stderr and environment, the entry point's own error handling). The
    tests where a real process is the point (signals, locks, kill -9, the daemon) use
    `spawn_trialwatch` instead."""

    def run(*args: str, env: dict[str, str] | None = None, clock: Clock = now) -> CliResult:
        return run_in_process(args, env={**cli_env, **(env or {})}, cwd=tmp_path, clock=clock)

    return run


def run_in_process(
    args: Sequence[str], *, env: dict[str, str], cwd: Path, clock: Clock = now
) -> CliResult:
    """The CLI's entry point in this process, with exactly `env` as its environment."""
    gone = {key: None for key in os.environ if key not in env}
    before = Path.cwd()
    os.chdir(cwd)
    try:
        with CliRunner().isolation(env={**gone, **env}) as (stdout, stderr, _):
            code = cli_main(list(args), clock=clock)
            out, err = stdout.getvalue().decode(), stderr.getvalue().decode()
    finally:
        os.chdir(before)
    return CliResult(code, out, err)


@pytest.fixture
def spawn_trialwatch(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Spawn]:
    """Start the CLI without waiting (for kill -9 tests)."""
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            cli_command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**cli_env, **(env or {})},
            cwd=tmp_path,
        )
        processes.append(process)
        return process

    yield spawn
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate()


def event_keys(events: list[Any]) -> list[tuple[str, str, str]]:
    """(category, field, summary) of each event, for compact assertions."""
    return [
        (str(e["category"]), e["field"], e["summary"])
        if isinstance(e, dict)
        else (str(e.category), e.field, e.summary)
        for e in events
    ]
