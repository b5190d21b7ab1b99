"""The CLI's core: the command group, what every command gets (`Context`), and the one place
where errors become one-line messages and exit codes (`main`).

Command modules import the stages that only some commands need (rendering, delivery, the
scheduler) inside those commands: a daily `check` then starts without loading them (about
0.3 s of a 0.8 s start-up, measured with `python -X importtime`).
"""

from __future__ import annotations

import difflib
import importlib
import json
import logging
import os
import shlex
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from monitor import __version__
from monitor.config import Settings, load_settings
from monitor.delivery.destinations import unknown_destinations
from monitor.errors import BadInput, RunInProgress, TrialwatchError
from monitor.lock import run_lock
from monitor.nct_ids import nct_ids_in
from monitor.records.events import ChangeEvent, search_named
from monitor.reports.mass_changes import fold_mass_changes
from monitor.store import Store
from monitor.text import ESCAPE_SEQUENCE, UNPRINTABLE, counted
from monitor.times import Clock, utc_now

if TYPE_CHECKING:
    from monitor.jobs.check import CheckError, CheckOutcome

logger = logging.getLogger("monitor")


CONNECTION_LOGS = ("httpx", "httpcore", "urllib3", "requests")


def terminal_safe(text: str) -> str:
    """Registry text with escape sequences and control characters removed (newlines, tabs
    kept; a carriage return, which lets a line print over another, removed too)."""
    return UNPRINTABLE.sub("", ESCAPE_SEQUENCE.sub("", text)).replace("\r", "")


def format_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


class Context:
    """What every command gets: settings, the clock, an output console and the database on
    demand."""

    def __init__(self, settings: Settings, *, quiet: bool, clock: Clock):
        self.settings = settings
        self.quiet = quiet
        self.clock = clock
        self.stderr = Console(stderr=True, highlight=False)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        """The database, opened once on first use."""
        if self._store is None:
            self._store = self.open_store()
        return self._store

    @property
    def reader(self) -> Store:
        """The database for a command that only reads: read-only where it may not be written."""
        if self._store is None:
            self._store = self.open_store(reading=True)
        return self._store

    def open_store(self, *, reading: bool = False) -> Store:
        """A new connection; the default data directory is created on first use."""
        default = self.settings.db == self.settings.data_dir / "trialwatch.db"
        if reading and default and not self.settings.db.exists():
            return Store.absent(self.settings.db)  # the data folder too may be to come
        if default:
            try:
                self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BadInput(f"cannot create {self.settings.data_dir}: {exc.strerror}") from exc
        return Store.open(self.settings.db, wait=self.settings.db_wait, reading=reading)

    def require_known_destinations(self) -> None:
        """`rules` or `cadence` naming no mail address or channel could never match (a typo,
        most likely): bad input before anything is checked or sent, like an unknown key."""
        trials = self.store.watches.trials() if self.settings.db.exists() else {}
        unknown = unknown_destinations(self.settings, trials)
        if unknown:
            name, nearest = unknown[0]
            hint = f"; did you mean {nearest!r}?" if nearest else ""
            raise BadInput(
                f"config: rules or cadence for {name!r}, which is no mail address or channel "
                f"(mail_to, a watch's --to, channels, notify){hint}"
            )

    def warn_if_nothing_watched(self) -> bool:
        """`run` and `check` where nothing is watched (no database there, or an empty one):
        most likely cron started in another directory than the one the trials were added in
        (the default data folder is ./snapshots of it). Said on stderr, which cron mails, on
        every such run, not only the first. True when there is no database at all: then the
        command has nothing to do, and creates none."""
        path = self.settings.db.resolve()
        if path.exists() and (self.store.watches.count() or self.store.searches.rows()):
            return False
        click.echo(
            terminal_safe(
                f"trialwatch: nothing is watched in {path}"
                + ("" if path.exists() else " (no database was there)")
                + ". If your trials are in another data folder, set TRIALWATCH_HOME to it "
                "(the default is ./snapshots of the directory the command starts in; cron "
                "starts in your home directory) or pass --db PATH."
            ),
            err=True,
        )
        return not path.exists()

    def locked(self) -> AbstractContextManager[None]:
        """The run lock beside the database (opening the database first, so its folder exists)."""
        return run_lock(self.store.path, wait=self.settings.lock_wait, now=self.clock())

    def say(self, text: str = "") -> None:
        """Human output on stdout, unless `-q`."""
        if not self.quiet:
            click.echo(terminal_safe(text))

    def say_wrapped(self, lead: str, text: str) -> None:
        """`lead` (fixed-width columns: a date, an id, a word), then `text` wrapped to the
        terminal's width under itself, so that a line never spills past the width (80 when
        piped, as under cron)."""
        room = max(20, self.width() - len(lead))
        lines = textwrap.wrap(text, room, break_on_hyphens=False) or [""]
        self.say(lead + lines[0])
        for line in lines[1:]:
            self.say(" " * len(lead) + line)

    def width(self) -> int:
        """The terminal's width in columns (80 when piped, as under cron; COLUMNS overrides)."""
        return Console().width

    def show_table(
        self, table: Table, rows: Iterable[Iterable[object]], *, whole: Iterable[str] = ()
    ) -> None:
        """Rows (registry text among them) as a table on stdout, unless `-q`: control
        characters stripped, and `[...]` shown as written, never read as rich markup. Columns
        named in `whole` (ids, dates, counts) are never cut or wrapped, however narrow the
        terminal: the text columns give way (wrapped, or cut with an ellipsis)."""
        cells = [[terminal_safe(str(cell)) for cell in row] for row in rows]
        for index, column in enumerate(table.columns):
            if column.header in set(whole):
                column.no_wrap = True
                column.min_width = max([len(str(column.header))] + [len(r[index]) for r in cells])
            elif column.min_width is None:
                column.min_width = min(10, max([len(r[index]) for r in cells], default=0))
        for row in cells:
            table.add_row(*row)
        if not self.quiet:
            Console(highlight=False, markup=False).print(table)

    @contextmanager
    def progress(self, total: int, description: str) -> Iterator[Callable[[int], None]]:
        """A progress bar on stderr when it is a terminal; silent when piped or quiet."""
        with Progress(
            console=self.stderr, disable=self.quiet or not self.stderr.is_terminal, transient=True
        ) as progress:
            task = progress.add_task(description, total=total)
            yield lambda done: progress.advance(task, done)


pass_context = click.make_pass_decorator(Context)


def invoked_as() -> str:
    """How to start this program again, for hints: `trialwatch` where that is it on PATH,
    else the path it was started by (`.venv/bin/trialwatch` in a checkout)."""
    program = Path(sys.argv[0])
    on_path = shutil.which("trialwatch")
    if program.name != "trialwatch" or (on_path and Path(on_path).resolve() == program.resolve()):
        return "trialwatch"
    try:
        return shlex.quote(str(program.resolve().relative_to(Path.cwd().resolve())))
    except ValueError:
        return shlex.quote(str(program))


def parse_ids(values: tuple[str, ...]) -> list[str]:
    """Validate every id before anything is done (ids separated by commas too, or pasted study
    URLs); duplicates collapse."""
    return list(dict.fromkeys(nct_id for value in values for nct_id in nct_ids_in(value)))


def require_watched(store: Store, ids: list[str]) -> None:
    missing = store.watches.unwatched(ids)
    if missing:
        raise BadInput(f"not watched: {', '.join(missing)} (see `trialwatch watch list`)")


def say_events(ctx: Context, outcome: CheckOutcome) -> None:
    """Each change in a line; many sites of a trial changed alike, in one line with the
    command that lists them."""
    by_trial: dict[str, list[ChangeEvent]] = {}
    for event in outcome.events:
        by_trial.setdefault(event.nct_id, []).append(event)
    for nct_id, events in by_trial.items():
        masses, one_by_one = fold_mass_changes(events)
        for mass in masses:
            ctx.say(f"{nct_id}  {mass.sentence} (each: {mass.command})")
        for event in one_by_one:
            ctx.say(f"{nct_id}  {event.summary}")


def tell_problems(errors: Iterable[CheckError], moved: Mapping[str, str] | None = None) -> None:
    """Each failed trial, and each trial the registry merged into another (told once: the
    watch moves with it)."""
    for old_id, current_id in (moved or {}).items():
        click.echo(
            f"trialwatch: {old_id} is now {current_id} (the registry merged them): "
            "its watch and history moved",
            err=True,
        )
    by_error: dict[str, list[str]] = {}
    for error in errors:
        by_error.setdefault(error.error, []).append(error.item)
    for text, nct_ids in by_error.items():  # "could not reach the registry" once, not per trial
        if len(nct_ids) == 1:
            line = f"trialwatch: {nct_ids[0]}: {text}"
        else:
            shown = ", ".join(nct_ids[:5]) + (
                f" and {len(nct_ids) - 5} more" if len(nct_ids) > 5 else ""
            )
            searches = sum(search_named(item) is not None for item in nct_ids)
            trials = len(nct_ids) - searches
            told = [counted(trials, "trial")] * bool(trials)
            told += [counted(searches, "search", "searches")] * bool(searches)
            line = f"trialwatch: {text}: {' and '.join(told)} not checked ({shown})"
        click.echo(terminal_safe(line), err=True)


class SuggestingGroup(click.Group):
    """A group that answers a mistyped command with the nearest one ("Did you mean
    'watch'?"), as click already does for options."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            typed = args[0] if args else ""
            nearest = difflib.get_close_matches(typed, self.list_commands(ctx), n=1)
            if not nearest or typed.startswith("-"):
                raise
            raise click.UsageError(
                f"No such command {typed!r}. Did you mean {nearest[0]!r}?", ctx
            ) from exc


class LazyGroup(SuggestingGroup):
    """The command line's one place of wiring: each command is loaded from its module when
    it is used (or listed by --help), so a run pays only for the modules it needs."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module, _, name = self.lazy[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command


COMMANDS = {  # command name -> "module:function"
    "watch": "monitor.cli.watch:watch",
    "check": "monitor.cli.checks:check",
    "import": "monitor.cli.checks:import_files",
    "backfill": "monitor.cli.checks:backfill",
    "doctor": "monitor.cli.maintenance:doctor",
    "backup": "monitor.cli.maintenance:backup",
    "changes": "monitor.cli.reports:changes",
    "history": "monitor.cli.reports:history",
    "report": "monitor.cli.reports:report",
    "demo": "monitor.cli.reports:demo",
    "digest": "monitor.cli.runs:digest",
    "run": "monitor.cli.runs:run",
    "schedule": "monitor.cli.runs:schedule",
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="trialwatch")
@click.option(
    "--db", "db_path", metavar="PATH", help="SQLite database (default: <data dir>/trialwatch.db)."
)
@click.option("--config", "config_path", metavar="FILE", help="TOML config file.")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(
    ctx: click.Context, db_path: str | None, config_path: str | None, verbose: int, quiet: bool
) -> None:
    """trialwatch: watch ClinicalTrials.gov records and report what changed."""
    level = (
        logging.ERROR if quiet else [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    )
    logging.basicConfig(
        level=level, format="trialwatch: %(message)s", stream=sys.stderr, force=True
    )
    logging.getLogger().setLevel(level)
    # Connection logs name whole URLs and paths (a webhook's token, credentials in api_url):
    # never shown, whatever -v asks for.
    for connection_log in CONNECTION_LOGS:
        logging.getLogger(connection_log).setLevel(max(level, logging.WARNING))
    # Apprise's own lines may name a service's URL, token and all: they stay out of our log
    # and, with a handler of their own, out of Python's last-resort printing to stderr (a
    # channel's failure comes back to us scrubbed).
    apprise_log = logging.getLogger("apprise")
    apprise_log.propagate = False
    if not apprise_log.handlers:
        apprise_log.addHandler(logging.NullHandler())
    settings = load_settings(
        environ=os.environ, cwd=Path.cwd(), db_option=db_path, config_option=config_path
    )
    ctx.obj = Context(settings, quiet=quiet, clock=ctx.obj)  # `run` handed in its clock
    ctx.call_on_close(lambda: ctx.obj._store and ctx.obj._store.close())


def run(args: Sequence[str] | None = None, *, clock: Clock = utc_now) -> int:
    """Run the CLI once (`args`, else the command line) on `clock` and return its exit code:
    every failure becomes one line on stderr. The tests call it in-process, on their clock."""
    try:
        code = cli.main(args=args, prog_name="trialwatch", standalone_mode=False, obj=clock)
    except click.exceptions.NoArgsIsHelpError as exc:  # `trialwatch`, `trialwatch watch`
        click.echo(exc.ctx.get_help())
        return 0
    except SystemExit as exc:  # a command's own exit code
        return exc.code if isinstance(exc.code, int) else 0
    except click.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except click.exceptions.Abort:
        return _fail("interrupted", 130)
    except RunInProgress as exc:
        return _fail(str(exc), 0)
    except BadInput as exc:
        return _fail(str(exc), 2)
    except TrialwatchError as exc:
        return _fail(str(exc), 1)
    except Exception as exc:  # the edge: anything unexpected is one line, traceback with -v
        return _fail(f"internal error: {type(exc).__name__}: {exc}", 1)
    return code if isinstance(code, int) else 0


def main() -> NoReturn:
    """Console entry point."""
    sys.exit(run())


def _fail(message: str, code: int) -> int:
    """One line on stderr; the traceback too when -v made the log level INFO or lower."""
    if logging.getLogger().isEnabledFor(logging.INFO):
        logger.exception("details")
    click.echo(terminal_safe(f"trialwatch: {message}").replace("\n", " "), err=True)
    return code
