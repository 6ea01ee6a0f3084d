"""``ferryman check``: preflight one server for a move."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import click

from ferryman.cli.options import choice_option, json_option, split_tables, tables_options
from ferryman.cli.output import esc, out, redacted_url
from ferryman.core.errors import FerrymanError
from ferryman.core.findings import Finding, Level, is_problem
from ferryman.core.registry import endpoint
from ferryman.pipeline.verdict import verdict_findings

LEVEL_STYLE = {
    Level.OK: ("ok", "green"),
    Level.INFO: ("info", "cyan"),
    Level.WARN: ("warn", "yellow"),
    Level.FAIL: ("FAIL", "bold red"),
}


@click.command()
@click.argument("url")
@choice_option(
    "--role",
    ["source", "target"],
    "source",
    "What the server will be in a move.",
)
@click.option(
    "--to",
    "to",
    type=click.Choice(["mysql", "mariadb", "postgresql", "postgres"]),
    help="Judge each table for a move to this engine (source role). Default: both engines, "
    "and a type only the other engine lacks is a warning.",
)
@tables_options
@json_option()
@click.option("--quiet", "-q", is_flag=True, help="Show only warnings and failures.")
def check(
    url: str,
    role: str,
    to: str | None,
    tables: Sequence[str],
    table: Sequence[str],
    as_json: bool,
    quiet: bool,
) -> None:
    """Preflight URL for a move: one line per finding, each problem with its fix.

    As a source, each table gets a verdict: moves faithfully, moves with notes, or cannot move
    (and why), for --to ENGINE or else for both engines.

    Checks the connection and login, server version, change capture settings (MySQL/MariaDB
    binlog ROW/FULL, server_id, GTID, retention; PostgreSQL wal_level=logical, slots, senders),
    privileges, and per table: a primary key, column types, foreign-key closure, triggers.

    Exit 0 when nothing blocks a move, 1 when a check fails, 2 when the server cannot be used.
    """
    if to is not None and role != "source":
        raise click.BadParameter("--to judges a source's tables: use it with --role source")
    try:
        with endpoint(url) as ep:
            info = ep.server_info()
            findings = ep.check(role, split_tables(tables, table))
            if role == "source" and info.flavor in ("mysql", "mariadb", "postgresql"):
                findings += verdict_findings(ep.introspect(split_tables(tables, table)), to)
    except FerrymanError as exc:
        if as_json:
            click.echo(json.dumps({"url": redacted_url(url), "role": role, **exc.to_json()}))
        raise
    failed = any(is_problem(f) for f in findings)
    if as_json:
        doc = {
            "url": str(ep.url),
            "role": role,
            "server": {"flavor": info.flavor, "version": info.version},
            "ok": not failed,
            "findings": [f.to_json() for f in findings],
        }
        click.echo(json.dumps(doc, indent=2))
    else:
        out.print(f"[bold]{ep.url}[/] — {info.flavor} {info.version}, as {role}")
        for finding in findings:
            if quiet and finding.level in (Level.OK, Level.INFO):
                continue
            _print_finding(finding)
        fails = sum(f.level is Level.FAIL for f in findings)
        warns = sum(f.level is Level.WARN for f in findings)
        verdict = "[bold red]not ready[/]" if failed else "[bold green]ready[/]"
        out.print(f"{verdict}: {fails} failed, {warns} warning(s), {len(findings)} checks")
    sys.exit(1 if failed else 0)


def _print_finding(finding: Finding) -> None:
    word, style = LEVEL_STYLE[finding.level]
    out.print(f"[{style}]{word:>4}[/] {finding.check:<22} {esc(finding.message)}")
    if finding.fix and finding.level is not Level.OK:
        out.print(f"     {'':<22} [dim]fix:[/] {esc(finding.fix)}")
