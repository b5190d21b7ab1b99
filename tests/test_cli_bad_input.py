"""Bad input: one line on stderr naming the problem, exit 2, no traceback, nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import NO_REGISTRY, SEED_FILES, CliResult, Trialwatch


def assert_one_line_error(result: CliResult, fragment: str) -> None:
    assert result.code == 2, result
    assert result.stdout == ""
    assert result.stderr.startswith("trialwatch: ") and result.stderr.count("\n") == 1
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_db_path_that_is_a_directory(trialwatch: Trialwatch, tmp_path: Path) -> None:
    assert_one_line_error(trialwatch("--db", str(tmp_path), "watch", "list"), "it is a directory")


def test_db_path_in_a_missing_folder(trialwatch: Trialwatch, tmp_path: Path) -> None:
    result = trialwatch("--db", str(tmp_path / "no" / "such.db"), "watch", "list")
    assert_one_line_error(result, "does not exist")
    assert not (tmp_path / "no").exists()


def test_db_path_that_is_not_a_database_is_left_untouched(
    trialwatch: Trialwatch, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my precious notes, not a database\n" * 100)
    before = notes.read_bytes()
    assert_one_line_error(
        trialwatch("--db", str(notes), "watch", "add", "NCT05869955"), "file is not a database"
    )
    assert notes.read_bytes() == before


@pytest.mark.parametrize(
    "text,fragment",
    [("nonsense = 1\n", "unknown setting 'nonsense'"), ("[oops\n", "is not valid TOML")],
    ids=["unknown_key", "bad_toml"],
)
def test_bad_config_file(
    trialwatch: Trialwatch, tmp_path: Path, home: Path, text: str, fragment: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert_one_line_error(
        trialwatch("--config", str(config), "watch", "add", "NCT05869955"), fragment
    )
    assert not (home / "trialwatch.db").exists()


def test_missing_config_file(trialwatch: Trialwatch, tmp_path: Path) -> None:
    result = trialwatch("--config", str(tmp_path / "nope.toml"), "watch", "list")
    assert_one_line_error(result, "cannot read config")


def test_bad_environment_value(trialwatch: Trialwatch) -> None:
    result = trialwatch("watch", "list", env={"TRIALWATCH_BATCH_SIZE": "0"})
    assert_one_line_error(result, "TRIALWATCH_BATCH_SIZE: must be 1 to 1000, not 0")


def test_unknown_command_and_missing_argument_are_one_line_usage_errors(
    trialwatch: Trialwatch,
) -> None:
    assert_one_line_error(trialwatch("frobnicate"), "No such command 'frobnicate'")
    assert_one_line_error(trialwatch("watch", "add"), "Missing argument")


def test_bad_input_leaves_an_existing_database_unchanged(
    trialwatch: Trialwatch, home: Path
) -> None:
    assert trialwatch("import", str(SEED_FILES[0])).code == 0
    before = (home / "trialwatch.db").read_bytes()
    assert_one_line_error(trialwatch("watch", "add", "NCT1"), "not an NCT id: 'NCT1'")
    assert_one_line_error(trialwatch("changes", "NCT1"), "not an NCT id")
    assert (home / "trialwatch.db").read_bytes() == before


def test_a_json_list_says_the_wrapper_is_wrong_not_the_record(
    trialwatch: Trialwatch, tmp_path: Path
) -> None:
    listing = tmp_path / "list.json"
    listing.write_text("[" + SEED_FILES[0].read_text() + "]")
    result = trialwatch("import", str(listing))
    assert_one_line_error(result, "is a JSON list: expected one study object")
    assert 'wrap the list as {"studies": [...]}' in result.stderr


def test_backup_into_a_missing_folder_says_the_folder_is_missing(
    trialwatch: Trialwatch, tmp_path: Path
) -> None:
    trialwatch("watch", "list")
    result = trialwatch("backup", str(tmp_path / "no" / "such" / "copy.db"))
    assert_one_line_error(result, f"folder {tmp_path / 'no' / 'such'} does not exist")


@pytest.mark.parametrize(
    ("args", "nearest"), [(("wtach", "list"), "'watch'"), (("watch", "lsit"), "'list'")]
)
def test_a_mistyped_command_is_answered_with_the_nearest(
    trialwatch: Trialwatch, args: tuple[str, ...], nearest: str
) -> None:
    result = trialwatch(*args)
    assert result.code == 2 and f"Did you mean {nearest}?" in result.stderr


def test_a_trialwatch_variable_that_is_no_setting_is_named_and_the_run_goes_on(
    trialwatch: Trialwatch,
) -> None:
    result = trialwatch("watch", "list", env={"TRIALWATCH_SMTP_HSOT": "mail.example.org"})
    assert result.code == 0
    assert (
        "TRIALWATCH_SMTP_HSOT is not a trialwatch setting (did you mean TRIALWATCH_SMTP_HOST?); "
        "ignored"
    ) in result.stderr


def test_the_wrong_data_folder_is_named_and_no_reading_command_creates_a_database(
    trialwatch: Trialwatch, home: Path
) -> None:
    """Run from another directory (cron starts in your home): the commands that only read or
    find nothing to do say which folder they used and how to point at another, and leave no
    database behind; adding a watch creates it."""
    db = home / "trialwatch.db"
    listed = trialwatch("watch", "list")
    assert listed.code == 0 and f"No trials watched in {db}." in listed.stdout
    assert "TRIALWATCH_HOME=DIR" in listed.stdout
    doctor = trialwatch("doctor", env={"TRIALWATCH_API_URL": NO_REGISTRY})
    assert doctor.code == 1 and f"PROBLEM  database  none at {db}" in doctor.stdout
    for command in (("run",), ("check",), ("digest",), ("changes",)):
        assert trialwatch(*command).code == 0, command
    assert "no database was there" in trialwatch("run").stderr
    assert not db.exists()
    assert trialwatch("watch", "add", "--no-verify", "NCT05869955").code == 0 and db.exists()
