"""`doctor`, `backup`, and the warning for a password in a config file others can read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.store import Store
from tests.conftest import SEED_FILES, Trialwatch, study_with_id
from tests.registry_server import RegistryServer
from tests.smtp_server import SmtpServer


def test_doctor_reports_every_check_and_fails_on_a_problem(
    trialwatch: Trialwatch, registry: RegistryServer, smtp: SmtpServer, home: Path
) -> None:
    home.mkdir()
    Store.open(home / "trialwatch.db").close()  # an empty database
    healthy = trialwatch("doctor", env={**smtp.env(), "TRIALWATCH_MAIL_TO": "ops@example.org"})
    assert healthy.code == 0
    assert [line.split()[:2] for line in healthy.stdout.splitlines()] == [
        ["ok", "database"],
        ["ok", "schema"],
        ["ok", "disk"],
        ["ok", "config"],
        ["ok", "registry"],
        ["ok", "smtp"],
        ["ok", "watches"],
        ["ok", "delivery"],
        ["ok", "hears"],
    ]
    smtp.stop()
    broken = trialwatch(
        "doctor",
        env={
            **smtp.env(),
            "TRIALWATCH_API_URL": "http://127.0.0.1:9",
            "TRIALWATCH_MAX_ATTEMPTS": "1",
        },
    )
    assert broken.code == 1
    problems = [line for line in broken.stdout.splitlines() if line.startswith("PROBLEM")]
    assert [line.split()[1] for line in problems] == ["registry", "smtp"]


def test_backup_is_a_consistent_copy_and_never_overwrites(
    trialwatch: Trialwatch, home: Path, tmp_path: Path
) -> None:
    assert trialwatch("import", *map(str, SEED_FILES)).code == 0
    copy = tmp_path / "backup.db"
    assert trialwatch("backup", str(copy)).code == 0
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("select count(*) from events").fetchone() == (17,)
    again = trialwatch("backup", str(copy))
    assert again.code == 2 and "already exists" in again.stderr


def test_a_config_with_a_password_readable_by_others_is_flagged(
    trialwatch: Trialwatch, tmp_path: Path
) -> None:
    config = tmp_path / "tw.toml"
    config.write_text('smtp_password = "s3cret"\n')
    config.chmod(0o644)
    open_to_all = trialwatch("--config", str(config), "doctor")
    assert "other users can read it: chmod 600" in open_to_all.stderr
    assert "PROBLEM  config" in open_to_all.stdout and "s3cret" not in open_to_all.stdout
    config.chmod(0o600)
    private = trialwatch("--config", str(config), "doctor")
    assert "other users can read it" not in private.stderr + private.stdout


def test_doctor_says_what_a_refusal_by_the_registry_means(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.fail(status=403, path_prefix="/version")
    result = trialwatch("doctor")
    assert result.code == 1
    assert "refused by the registry (HTTP 403)" in result.stdout
    assert "another network" in result.stdout


def test_doctor_send_test_mails_every_recipient_and_says_so(
    trialwatch: Trialwatch, registry: RegistryServer, smtp: SmtpServer
) -> None:
    trialwatch("watch", "add", "--no-verify", "NCT05869955", "--to", "site@example.org")
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": "ops@example.org"}
    result = trialwatch("doctor", "--send-test", env=env)
    assert result.code == 0, result.stdout
    [line] = [line for line in result.stdout.splitlines() if "test mail" in line]
    assert line.startswith(
        "ok       test mail sent to ops@example.org, site@example.org through SMTP"
    )
    [message] = smtp.received
    assert sorted(message.recipients) == ["ops@example.org", "site@example.org"]
    assert message.message["Subject"] == "trialwatch test message"
    unconfigured = trialwatch("doctor", "--send-test")
    assert unconfigured.code == 1
    assert "PROBLEM  test mail SMTP is not configured: set smtp_host first" in unconfigured.stdout


def test_a_run_where_nothing_is_watched_says_where_it_looked(
    trialwatch: Trialwatch, tmp_path: Path
) -> None:
    """A cron line without TRIALWATCH_HOME starts in the home directory: its ./snapshots is
    not the data folder the trials were added in. Said on every such run (cron mails it)."""
    for _ in range(2):
        result = trialwatch("run", env={"TRIALWATCH_HOME": ""})
        assert result.code == 0
        assert f"nothing is watched in {tmp_path / 'snapshots' / 'trialwatch.db'}" in result.stderr
        assert "TRIALWATCH_HOME" in result.stderr


def test_a_run_with_something_watched_says_nothing_about_it(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(study_with_id("NCT00000001"))
    trialwatch("watch", "add", "NCT00000001")
    result = trialwatch("run")
    assert result.code == 0 and "nothing is watched" not in result.stderr


def test_doctor_names_the_secrets_a_readable_config_file_holds(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    """Only what the file itself holds: a password from the environment is not in it."""
    home.mkdir(parents=True)
    config = home / "trialwatch.toml"
    config.write_text('mail_to = ["ops@example.org"]\n')
    config.chmod(0o644)
    with_env_password = {"TRIALWATCH_SMTP_PASSWORD": "from-the-environment"}
    doctor = trialwatch("doctor", env=with_env_password).stdout
    assert f"ok       config    {config}: valid" in doctor
    config.write_text('smtp_password = "in-the-file"\n')
    config.chmod(0o644)
    doctor = trialwatch("doctor").stdout
    assert f"{config}: holds secrets (smtp_password) and other users can read it" in doctor
