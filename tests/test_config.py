"""Settings: option > environment > config file > default, and clear errors for bad values."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from monitor.config import DEFAULT_API_URL, Settings, load_settings
from monitor.errors import BadInput


def settings(tmp_path: Path, environ: dict[str, str] | None = None, **options: Any) -> Settings:
    return load_settings(environ=environ or {}, cwd=tmp_path, **options)


def test_defaults_live_under_snapshots_in_the_working_directory(tmp_path: Path) -> None:
    loaded = settings(tmp_path)
    assert loaded.data_dir == tmp_path / "snapshots"
    assert loaded.db == tmp_path / "snapshots" / "trialwatch.db"
    assert loaded.config_file is None and loaded.api_url == DEFAULT_API_URL


def test_config_in_the_data_dir_is_read_and_environment_overrides_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "trialwatch.toml").write_text(
        'api_url = "http://config.example/api/v2/"\nbatch_size = 50\nmail_to = ["a@example.org"]\n'
    )
    loaded = settings(
        tmp_path, {"TRIALWATCH_HOME": str(home), "TRIALWATCH_API_URL": "http://env.example/api/v2"}
    )
    assert loaded.config_file == home / "trialwatch.toml"
    assert loaded.api_url == "http://env.example/api/v2"
    assert loaded.batch_size == 50 and loaded.mail_to == ("a@example.org",)


def test_db_option_beats_environment_beats_config(tmp_path: Path) -> None:
    config = tmp_path / "tw.toml"
    config.write_text('db = "from-config.db"\n')
    assert settings(tmp_path, config_option=str(config)).db.name == "from-config.db"
    environ = {"TRIALWATCH_DB": str(tmp_path / "from-env.db")}
    assert settings(tmp_path, environ, config_option=str(config)).db.name == "from-env.db"
    assert (
        settings(tmp_path, environ, config_option=str(config), db_option="from-option.db").db.name
        == "from-option.db"
    )


@pytest.mark.parametrize(
    "text,message",
    [
        ("colour = 'blue'\n", "unknown setting 'colour'"),
        ("batch_size = 0\n", "bad value for batch_size: must be 1 to 1000, not 0"),
        ("smtp_tls = 'maybe'\n", "bad value for smtp_tls: expected one of none, starttls, ssl"),
        ("mail_to = ['not-an-address']\n", "not an e-mail address: 'not-an-address'"),
        ("api_url = 'ftp://x'\n", "expected an http:// or https:// URL"),
        ("batch_size = \n", "is not valid TOML"),
        ("schedule = '0 7 * *'\n", "bad value for schedule: not a five-field cron expression"),
        ("schedule = '0 25 * * *'\n", "bad value for schedule: bad cron expression '0 25 * * *'"),
        ("schedule = '0 7 * * 8'\n", "bad value for schedule: bad cron weekday '8'"),
        ("timezone = 'Mars/Olympus'\n", "bad value for timezone: unknown timezone: 'Mars/Olympus'"),
        ("smtp_port = 99999\n", "bad value for smtp_port: must be 1 to 65535, not 99999"),
        ("timeout = 'soon'\n", "bad value for timeout: expected a number, not 'soon'"),
        ("max_attempts = 'x'\n", "bad value for max_attempts: expected a whole number, not 'x'"),
    ],
    ids=[
        "unknown_key",
        "bad_number",
        "bad_choice",
        "bad_address",
        "bad_url",
        "bad_toml",
        "cron_fields",
        "cron_hour",
        "cron_weekday",
        "timezone",
        "port_out_of_range",
        "not_a_number",
        "not_a_whole_number",
    ],
)
def test_bad_config_is_bad_input_naming_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "tw.toml"
    config.write_text(text)
    with pytest.raises(BadInput, match=re.escape(message)):
        settings(tmp_path, config_option=str(config))


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="environment: bad value for TRIALWATCH_MAX_ATTEMPTS"):
        settings(tmp_path, {"TRIALWATCH_MAX_ATTEMPTS": "lots"})


def test_password_never_shows_in_the_settings_repr(tmp_path: Path) -> None:
    loaded = settings(tmp_path, {"TRIALWATCH_SMTP_PASSWORD": "hunter2"})
    assert loaded.smtp_password == "hunter2" and "hunter2" not in repr(loaded)
