"""`trialwatch demo`: the seed story offline, with no configuration and no network."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Trialwatch


def test_demo_replays_the_seed_story(trialwatch: Trialwatch, home: Path, tmp_path: Path) -> None:
    result = trialwatch("demo", env={"TRIALWATCH_API_URL": "http://127.0.0.1:9/unreachable"})
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "2026-01-13  NCT05869955  no changes"
    assert "    Primary completion 2028-08-29 -> 2029-02-28 (+183 days)" in lines
    assert (
        "    Hopitaux Universitaires de Strasbourg (was Local Institution - 0043), Strasbourg, "
        "France: Not yet recruiting -> Recruiting"
    ) in lines
    # 17 events: one site's two statuses as one, and its rename told on that line
    assert "trialwatch: 15 changes in 1 trial" in lines
    assert (home / "demo" / "trialwatch.db").is_file()


def test_demo_output_matches_the_golden_file_and_reruns_identically(
    trialwatch: Trialwatch, home: Path, assert_golden: Callable[[str, str], None]
) -> None:
    def shown(output: str) -> str:
        """Each database's Message-IDs (so its outbox file names) carry a token of its own."""
        return re.sub(r"-[0-9a-f]{16}\.eml", "-{token}.eml", output.replace(str(home), "{home}"))

    first = shown(trialwatch("demo").stdout)
    assert shown(trialwatch("demo").stdout) == first
    assert_golden("demo.txt", first)


def test_the_demos_hints_name_the_command_as_it_was_started(tmp_path: Path) -> None:
    """From the checkout, `.venv/bin/trialwatch demo`: `trialwatch` alone is not on PATH, so
    the hints say `.venv/bin/trialwatch`."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "trialwatch"
    venv = script.parent.parent
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "PATH" and not key.startswith("TRIALWATCH_")
    }
    env |= {"PATH": "/usr/bin:/bin", "TRIALWATCH_HOME": str(tmp_path / "data")}
    env["TRIALWATCH_API_URL"] = "http://127.0.0.1:9"
    relative = script.relative_to(venv.parent)
    done = subprocess.run(
        [str(relative), "demo"], cwd=venv.parent, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    hints = [line for line in done.stdout.splitlines() if line.startswith("  ")][-3:]
    assert all(line.startswith(f"  {relative} --db ") for line in hints), hints
