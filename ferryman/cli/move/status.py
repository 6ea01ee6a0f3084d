"""``ferryman move status``: where a move is."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.table import Table as RichTable

from ferryman.cli.context import state_store
from ferryman.cli.options import json_option
from ferryman.cli.output import echo_json, esc, out
from ferryman.workflow import move as moves


@click.command("status")
@click.argument("name")
@json_option()
@click.pass_context
def status(ctx: click.Context, name: str, as_json: bool) -> None:
    """Phase, per-table copy progress, lag and position of the move NAME."""
    doc = moves.status(state_store(ctx), name)
    if as_json:
        echo_json(doc)
        return
    running = "running" if doc["running"] else "not running"
    out.print(f"[bold]{doc['name']}[/]: {doc['phase']} ({running})")
    out.print(f"  {doc['source']} → {doc['target']}")
    out.print(_tables(doc))
    lag = doc["lag_seconds"]
    out.print(
        f"  lag: {f'{lag:.1f}s' if lag is not None else 'n/a'}   events applied: "
        f"{doc['events_applied']:,}   position: {doc['position']}"
    )
    _print_controls(doc, name)
    _print_switches(doc, name)
    last = doc.get("last_verify")
    if last:
        verdict = "equal" if last["match"] else f"{last['differences']} difference(s)"
        out.print(
            f"  last verify: {last['id']} ({last['kind']}): {verdict}, "
            f"{last['rows_compared']:,} rows in {last['tables_compared']} table(s)"
        )
    _print_drift(doc, name)
    if doc["error"]:
        out.print(f"  [bold red]error:[/] {doc['error']}", markup=True)


def _tables(doc: dict[str, Any]) -> RichTable:
    grid = RichTable()
    for title in ("table", "target", "rows copied", "estimated", "copy"):
        grid.add_column(title)
    for t in doc["tables"]:
        grid.add_row(
            t["source"],
            t["target"],
            f"{t['rows_copied']:,}",
            f"{t['rows_estimated']:,}" if t.get("rows_estimated") is not None else "?",
            "done" if t["copy_done"] else "…",
        )
    return grid


def _print_controls(doc: dict[str, Any], name: str) -> None:
    """The operator's pause, limits and postponed switch, when any is set."""
    if doc.get("paused"):
        out.print(f"  [bold yellow]paused[/] by the operator; resume: ferryman move resume {name}")
    limits = doc.get("throttle") or {}
    shown = []
    if limits.get("max_rows_per_second"):
        shown.append(f"{limits['max_rows_per_second']:g} rows/s")
    if limits.get("lag_query") and limits.get("max_source_lag"):
        shown.append(f"source lag ≤ {limits['max_source_lag']:g}s")
    if shown:
        held = " (holding now)" if doc.get("throttled") else ""
        out.print(f"  throttle: {', '.join(shown)}{held}")
    if doc.get("throttle_error"):
        out.print(f"  [bold red]lag query:[/] {esc(doc['throttle_error'])}", markup=True)
    if doc.get("postpone_switch"):
        out.print(f"  switch postponed; lift it: ferryman move postpone {name} --off")


def _print_drift(doc: dict[str, Any], name: str) -> None:
    """The drift events (the guard's and the background verify's, newest first) and, for a
    halted move, the fix."""
    drift = doc.get("drift") or []
    if not drift:
        return
    out.print(
        f"  drift (writes to the target ferryman did not make, or source changes the stream "
        f"missed; newest first; on-drift "
        f"{doc.get('on_drift')}):"
    )
    for e in drift[:20]:
        who = ", ".join(f"{k} {v}" for k, v in (e.get("who") or {}).items()) or "unknown"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["at"])) if e.get("at") else "?"
        out.print(
            f"    {when} {e['kind']} {e['table']} key {json.dumps(e['key'], default=str)} "
            f"by {who}" + (" (accepted)" if e.get("accepted") else ""),
            markup=False,
        )
        out.print(f"      on the target: {_row(e.get('actual'))}", markup=False)
        out.print(f"      expected:      {_row(e.get('expected'))}", markup=False)
        if e.get("columns"):
            out.print(f"      differs in:    {', '.join(e['columns'])}", markup=False)
    if len(drift) > 20:
        out.print(f"    … {len(drift) - 20} more (--json shows up to 100)")
    if doc["phase"] == "halted":
        out.print(
            f"  fix: ferryman move verify {name} --repair, then "
            f"ferryman move start {name} --accept-drift",
            markup=False,
        )


def _row(row: dict[str, Any] | None) -> str:
    return "absent" if row is None else json.dumps(row, default=str)


def _print_switches(doc: dict[str, Any], name: str) -> None:
    """Where writes go, the fences, the last switches and a cutover left unfinished."""
    if doc["new_primary"]:
        out.print(f"  writes go to: [bold]{doc['new_primary']}[/] (direction {doc['direction']})")
    if doc["fences"]:
        out.print("  fenced: " + ", ".join(f"{s} ({k})" for s, k in doc["fences"].items()))
    for sw in doc["switches"][-3:]:
        out.print(f"  {sw['op']}: downtime {sw['downtime_seconds']:.3f} s")
    cut = doc["cutover"]
    if cut:
        out.print(
            f"  [bold yellow]{cut['op']} in progress or interrupted[/] at {cut['step']} "
            f"({cut['state']}); run `ferryman move {cut['op']} {name}` again to "
            + ("finish it" if cut["past_point_of_no_return"] else "roll it back")
        )
