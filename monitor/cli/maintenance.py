"""`doctor` and `backup`: keeping a trialwatch installation healthy."""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli._app import Context, cli, pass_context


@cli.command()
@pass_context
def doctor(ctx: Context) -> None:
    """Check the database's integrity and schema, the config, the registry and the SMTP login."""
    from monitor.doctor import run_doctor

    findings = run_doctor(ctx.reader, ctx.settings)
    for finding in findings:
        ctx.say(f"{'ok' if finding.ok else 'PROBLEM':<8} {finding.check:<9} {finding.detail}")
    if not all(finding.ok for finding in findings):
        raise SystemExit(1)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@pass_context
def backup(ctx: Context, file: Path) -> None:
    """Copy the database to FILE with SQLite's online backup (safe while trialwatch runs)."""
    ctx.reader.backup_to(file)
    ctx.say(f"Backed up {ctx.reader.path} to {file}")
