"""`doctor` and `backup`: keeping a trialwatch installation healthy."""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli._app import Context, pass_context
from monitor.jobs.doctor import diagnose, send_test_messages


@click.command()
@click.option(
    "--send-test",
    is_flag=True,
    help="Also mail a short test message to every recipient, through the configured SMTP, "
    "and post one to every chat or webhook channel.",
)
@pass_context
def doctor(ctx: Context, send_test: bool) -> None:
    """Check the database's integrity and schema, the config, the registry, the SMTP login and
    the chat or webhook channels (their URLs shown masked)."""

    findings = diagnose(ctx.reader, ctx.settings)
    if send_test:
        findings += send_test_messages(ctx.reader, ctx.settings, now=ctx.clock())
    for finding in findings:
        ctx.say_wrapped(
            f"{'ok' if finding.ok else 'PROBLEM':<8} {finding.check:<9} ", finding.detail
        )
    if not all(finding.ok for finding in findings):
        raise SystemExit(1)


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@pass_context
def backup(ctx: Context, file: Path) -> None:
    """Copy the database to FILE with SQLite's online backup (safe while trialwatch runs)."""
    ctx.reader.backup_to(file)
    ctx.say(f"Backed up {ctx.reader.path} to {file}")
