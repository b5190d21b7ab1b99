"""The manual (the README's quick start, docs/reference.md for the rest): every command and
option is in it, and every command has --help."""

from __future__ import annotations

import re

import click
import click.testing
import pytest

from monitor.cli import cli
from monitor.setting_values import PARSERS
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
REFERENCE = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
MANUAL = README + REFERENCE


def all_commands(group: click.Group, prefix: str = "trialwatch") -> list[tuple[str, click.Command]]:
    found = []
    context = click.Context(group)
    for name in group.list_commands(context):  # the commands are loaded when asked for
        command = group.get_command(context, name)
        assert command is not None, name
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found += all_commands(command, path)
        else:
            found.append((path, command))
    return found


COMMANDS = all_commands(cli)


SHARED_OPTIONS = {  # options a heading names as a group, and where that group is documented
    "[RULE OPTIONS]": "**Alert rules.**",
    "[SEARCH OPTIONS]": "### `trialwatch watch query",
}


@pytest.mark.parametrize("path,command", COMMANDS, ids=[path for path, _ in COMMANDS])
def test_command_and_its_options_are_documented(path: str, command: click.Command) -> None:
    """Each option in its own command's section of the reference (a `--json` elsewhere does
    not document this command's)."""
    assert f"### `{path}" in REFERENCE
    section = REFERENCE.split(f"### `{path}", 1)[1].split("\n### ", 1)[0]
    for named, where in SHARED_OPTIONS.items():  # a heading naming a shared table of options
        if named in section.splitlines()[0]:
            section += REFERENCE.split(where, 1)[1].split("\n### ", 1)[0]
    for param in command.params:
        if isinstance(param, click.Option):
            assert any(opt in section for opt in param.opts if opt.startswith("--")), param.opts


@pytest.mark.parametrize("path,command", COMMANDS, ids=[path for path, _ in COMMANDS])
def test_command_has_help(path: str, command: click.Command) -> None:
    result = click.testing.CliRunner().invoke(
        cli, [*path.split()[1:], "--help"], prog_name="trialwatch"
    )
    assert result.exit_code == 0
    assert f"Usage: {path} " in result.output
    assert command.help


def test_global_options_are_documented() -> None:
    for param in cli.params:
        for opt in param.opts:
            assert f"`{opt}" in MANUAL or f"/{opt}" in MANUAL, opt


def test_every_environment_variable_in_the_code_is_documented() -> None:
    source = "\n".join(path.read_text() for path in (ROOT / "monitor").rglob("*.py"))
    names = {f"TRIALWATCH_{key.upper()}" for key in PARSERS} | set(
        re.findall(r"TRIALWATCH_[A-Z_]+", source)
    )
    missing = [name for name in sorted(names) if name not in MANUAL]
    assert missing == []


def test_ci_runs_exactly_the_readme_test_command() -> None:
    commands = re.findall(r"```sh\n(.*?)\n```", README, flags=re.S)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("path,command", COMMANDS, ids=[path for path, _ in COMMANDS])
def test_help_speaks_the_users_words(path: str, command: click.Command) -> None:
    """No help text sends a user to a document they do not have ("the spec's JSON object")."""
    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    assert not any("spec" in text for text in texts), texts


def test_the_readmes_module_map_is_the_tree() -> None:
    """Every module of monitor/ is named in the README's Development section, and every module
    it names is there (the command-line modules are one file per command family)."""
    import re
    from pathlib import Path

    root = Path(__file__).parent.parent
    text = (root / "README.md").read_text()
    section = text[text.index("## Development") :]
    section = section[: section.index("- Tests:")]
    named = set(re.findall(r"\b(\w+\.py)\b", section))
    tree = {
        path.name
        for path in (root / "monitor").rglob("*.py")
        if path.name not in {"__init__.py", "__main__.py"} and path.parent.name != "cli"
    }
    assert tree - named == set(), "modules the README does not name"
    assert named - tree - {"_app.py"} == set(), "modules the README names that are gone"


def test_the_drawn_exception_tree_is_the_real_one() -> None:
    """errors.py draws its exception tree for the reader; each class in the drawing under the
    parent drawn above it, and every exception of the module drawn."""
    import inspect

    from monitor import errors

    drawn: dict[str, str] = {}
    parents = ["TrialwatchError"]
    for line in (errors.__doc__ or "").splitlines():
        branch = re.match(r"([ |]*)\+-- (\w+)", line)
        if branch:
            depth = len(branch[1]) // 5 + 1
            parents[depth:] = [branch[2]]
            drawn[branch[2]] = parents[depth - 1]
    real = {
        name: cls.__bases__[0].__name__
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.TrialwatchError) and cls is not errors.TrialwatchError
    }
    assert drawn == real


@pytest.mark.parametrize("package", ["registry", "records", "reports", "delivery", "jobs"])
def test_a_packages_docstring_names_its_modules(package: str) -> None:
    """Each stage's docstring names every module it holds, and names no module it does not
    (`cli` is one module per command family, `store` one per query family)."""
    import importlib

    folder = ROOT / "monitor" / package
    modules = {path.stem for path in folder.glob("*.py") if not path.stem.startswith("_")}
    named = set(re.findall(r"`(\w+)`", importlib.import_module(f"monitor.{package}").__doc__ or ""))
    assert modules - named == set(), "modules the docstring does not name"
    assert named - modules == set(), "names in backticks that are no module here"
