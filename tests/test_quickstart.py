"""A newcomer follows the README's quick start literally, shell blocks in order, against the
loopback registry and a real SMTP server (STARTTLS and login), and ends with one mailed
digest. Only two things differ from a first-time user's machine: the install step's venv is
the one these tests run in (installing is what `.ci/run` does), and the TOML's SMTP host and
port name the loopback server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, find_site, load_seed
from tests.registry_server import RegistryServer
from tests.smtp_server import SmtpServer

README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_blocks() -> list[tuple[str, str]]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [
        (language, re.sub(r"^ {3}", "", body, flags=re.M))
        for language, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)
    ]


@pytest.fixture
def mail_server() -> Iterator[SmtpServer]:
    server = SmtpServer(login=("trialwatch@example.org", "app-password"), tls="starttls").start()
    yield server
    server.stop()


def test_the_quick_start_ends_with_a_mailed_digest(
    registry: RegistryServer, mail_server: SmtpServer, tmp_path: Path
) -> None:
    blocks = quick_start_blocks()
    assert [language for language, _ in blocks] == ["sh", "sh", "toml", "sh", "sh", "cron", "ini"]
    (_, install), (_, watch), (_, toml), (_, test), (_, first_run), (_, cron), _ = blocks
    install_lines = install.strip().splitlines()
    assert install_lines[0].startswith("python3 -m venv ~/trialwatch/venv")
    home = tmp_path / "newcomer"
    (home / "trialwatch").mkdir(parents=True)
    (home / "trialwatch" / "venv").symlink_to(Path(sys.prefix))  # installed, as .ci/run does
    settings = re.sub(r'smtp_host = ".*"', 'smtp_host = "127.0.0.1"', toml)
    settings = re.sub(r"smtp_port = \d+", f"smtp_port = {mail_server.port}", settings)
    cron_command = cron.strip().split(None, 5)[5]  # the command after the five time fields
    script = "\n".join(
        [
            "set -euo pipefail",
            "shopt -s expand_aliases",
            *install_lines[1:],
            watch,
            'mkdir -p "$TRIALWATCH_HOME"',
            f"cat > \"$TRIALWATCH_HOME/trialwatch.toml\" <<'TOML'\n{settings}TOML",
            'chmod 600 "$TRIALWATCH_HOME/trialwatch.toml"',
            test,
            first_run,
        ]
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRIALWATCH_")} | {
        "HOME": str(home),
        "TRIALWATCH_API_URL": registry.url,
        "TRIALWATCH_REQUEST_INTERVAL": "0",
        "SSL_CERT_FILE": mail_server.env()["SSL_CERT_FILE"],
    }
    registry.put(load_seed())
    setup = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert setup.returncode == 0, setup.stderr + setup.stdout
    assert "ok       test mail sent to ops@example.org" in setup.stdout
    assert [m.message["Subject"] for m in mail_server.received] == ["trialwatch test message"]

    changed = load_seed()
    find_site(changed, "Cleveland Clinic")["status"] = "ACTIVE_NOT_RECRUITING"
    registry.put(changed)
    daily = subprocess.run(["bash", "-c", cron_command], env=env, capture_output=True, text=True)
    assert daily.returncode == 0, daily.stderr
    digest = mail_server.received[-1]
    assert len(mail_server.received) == 2 and digest.recipients == ["ops@example.org"]
    assert digest.message["From"] == "trialwatch@example.org"
    assert "Cleveland Clinic" in digest.part("plain")
