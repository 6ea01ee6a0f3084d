"""``make demo``: a live database move, MariaDB → PostgreSQL, on throwaway local servers.

Starts a MariaDB (binlog ROW/FULL) and a PostgreSQL (wal_level=logical) on free loopback ports,
loads a small shop schema into MariaDB and starts an application that writes about 100
transactions per second to whichever server a *router file* names. Then runs the real CLI:
``move create``, ``move start`` (in the background: copy, then replicate), ``move verify`` while
the application writes, ``move switch`` (fence MariaDB, catch up, route the application to
PostgreSQL; replication back to MariaDB keeps a way back), ``move verify`` again and ``move
complete``. It checks that every write the application saw acknowledged is on PostgreSQL and
prints the write downtime as ferryman measured it and as the application saw it. Everything is
removed at the end.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable

from ferryman.core.redact import redact, register_secret
from ferryman.testing.demoload import AppLoad, mariadb_primary, postgres_primary
from ferryman.testing.servers import (
    MariaDBServer,
    PostgresServer,
    start_mariadb,
    start_postgres,
)

console = Console(highlight=False)

MOVE = "shop"
ACCOUNTS = 20_000
OPENING_LEDGER = 5_000
APP_RATE = 100.0  # transactions per second
REPLICATING_TIMEOUT = 120.0
RUNNER_EXIT_TIMEOUT = 30.0
AFTER_SWITCH = 4.0  # seconds the application writes to PostgreSQL before step 8 looks

MARIADB_SCHEMA = [
    "CREATE TABLE accounts (id BIGINT AUTO_INCREMENT PRIMARY KEY, owner VARCHAR(60) NOT NULL, "
    "balance DECIMAL(12,2) NOT NULL, updated_at DATETIME(6) NOT NULL)",
    "CREATE TABLE ledger (id BIGINT PRIMARY KEY, account_id BIGINT NOT NULL, "
    "amount DECIMAL(12,2) NOT NULL, note VARCHAR(80), KEY (account_id))",
    "INSERT INTO accounts (owner, balance, updated_at) "
    f"SELECT CONCAT('owner ', seq), 1000.00, NOW(6) FROM seq_1_to_{ACCOUNTS}",
    "INSERT INTO ledger SELECT seq, 1 + seq % "
    f"{ACCOUNTS}, 1000.00, CONCAT('opening balance ', seq) FROM seq_1_to_{OPENING_LEDGER}",
]


class DemoFailed(Exception):
    """The demo cannot go on; the message says why."""


def step(title: str) -> None:
    console.rule(f"[bold cyan]{title}")


def shown(args: tuple[str, ...] | list[str]) -> str:
    return redact(shlex.join(args))


def run(*args: str, allow: tuple[int, ...] = (0,)) -> int:
    """Run the ferryman CLI as a user would, showing the command and its output."""
    console.print(f"[bold]$ ferryman {shown(args)}[/]")
    code = subprocess.call([sys.executable, "-m", "ferryman", *args])
    console.print(f"[dim](exit {code})[/]\n")
    if code not in allow:
        raise DemoFailed(f"ferryman {' '.join(args[:3])} exited {code}")
    return code


def quiet(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the ferryman CLI without showing it (polling)."""
    return subprocess.run(
        [sys.executable, "-m", "ferryman", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def move_status() -> dict[str, Any]:
    result = quiet("move", "status", MOVE, "--json")
    if result.returncode != 0:
        raise DemoFailed(f"ferryman move status {MOVE} --json exited {result.returncode}")
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return redact("\n".join(text.rstrip().splitlines()[-lines:]))


class Runner:
    """``ferryman move start`` in the background, as an operator would leave it running."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.args = args
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        console.print(f"[bold]$ ferryman {shown(self.args)} > {self.log.name} 2>&1 &[/]")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ferryman", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "COLUMNS": "160"},
            )
        console.print(f"[dim](pid {self.proc.pid}; its log: {self.log})[/]\n")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_phase(self, phase: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        doc: dict[str, Any] = {}
        while time.monotonic() < deadline:
            doc = move_status()
            if doc["phase"] == phase:
                return doc
            if doc.get("error"):
                raise DemoFailed(f"the move reports an error: {doc['error']}")
            if not self.alive():
                raise DemoFailed(
                    f"`ferryman move start` exited ({self.returncode()}) before phase {phase}; "
                    f"its log:\n{log_tail(self.log)}"
                )
            time.sleep(0.5)
        raise DemoFailed(
            f"phase {phase} not reached within {timeout:.0f}s (phase {doc.get('phase')}); "
            f"the runner's log:\n{log_tail(self.log)}"
        )

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise DemoFailed(
                f"`ferryman move start` did not exit {timeout:.0f}s after complete; its log:\n"
                f"{log_tail(self.log)}"
            ) from None

    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def kill(self) -> None:
        """Stop it if it still runs: SIGTERM (a clean stop), then SIGKILL."""
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def counts(my: MariaDBServer, pg: PostgresServer) -> dict[str, tuple[int, int]]:
    """Rows of each table on MariaDB and on PostgreSQL."""
    out = {}
    for table in ("accounts", "ledger"):
        a = my.execute(f"SELECT count(*) FROM {table}", MOVE)[0][0]
        b = pg.execute(f"SELECT count(*) FROM public.{table}", MOVE)[0][0]
        out[table] = (int(a), int(b))
    return out


def balances(my: MariaDBServer, pg: PostgresServer) -> tuple[str, str]:
    a = my.execute("SELECT SUM(balance) FROM accounts", MOVE)[0][0]
    b = pg.execute("SELECT SUM(balance) FROM public.accounts", MOVE)[0][0]
    return str(a), str(b)


def wait_same(my: MariaDBServer, pg: PostgresServer, timeout: float) -> bool:
    """Wait until both sides hold the same row counts and balance total."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = counts(my, pg)
        if all(a == b for a, b in c.values()) and len(set(balances(my, pg))) == 1:
            return True
        time.sleep(0.25)
    return False


def show_load(load: AppLoad, note: str = "") -> None:
    acked = load.snapshot()
    per_side = ", ".join(f"{label} {n:,}" for label, n in acked.items())
    console.print(
        f"application: {sum(acked.values()):,} transactions acknowledged ({per_side}); "
        f"{load.rate_seen():.0f} tx/s{note}"
    )


class Demo:
    """The demo's steps 2 to 10 on two running servers (step 1 starts them; 11 sums up)."""

    def __init__(self, workdir: Path, my: MariaDBServer, pg: PostgresServer) -> None:
        self.workdir = workdir
        self.router = workdir / "router"
        self.my, self.pg = my, pg
        self.source = my.url(MOVE)
        self.target = pg.url(MOVE) + "?schema=public"
        self.load: AppLoad | None = None
        self.runner: Runner | None = None
        self.at_switch: dict[str, int] = {}
        self.downtime = 0.0

    def stop(self) -> None:
        """Stop the application and the runner (the servers are main's)."""
        if self.load is not None:
            self.load.stop()
        if self.runner is not None:
            self.runner.kill()

    def app(self) -> AppLoad:
        if self.load is None:
            raise DemoFailed("the application was not started")
        return self.load

    def shop(self) -> None:
        """Step 2: the shop database on MariaDB, an empty one on PostgreSQL."""
        step("2. A shop database on MariaDB; an empty one on PostgreSQL")
        self.my.execute(f"CREATE DATABASE {MOVE}")
        for sql in MARIADB_SCHEMA:
            self.my.execute(sql, MOVE)
        self.pg.execute(f"CREATE DATABASE {MOVE}")
        n = [
            self.my.execute(f"SELECT count(*) FROM {t}", MOVE)[0][0] for t in ("accounts", "ledger")
        ]
        console.print(f"MariaDB {MOVE}: accounts {n[0]:,} rows, ledger {n[1]:,} rows")
        console.print(f"PostgreSQL {MOVE}: empty\n")

    def application(self) -> None:
        """Step 3: the application writes through the router file."""
        step("3. The application writes through a router file")
        # what `move switch --route` will write too: the URL without its password
        self.router.write_text(f"mysql://{self.my.admin_user}@{self.my.host}:{self.my.port}/{MOVE}")
        console.print(f"router {self.router}: [bold]{self.router.read_text()}[/]")
        self.load = load = AppLoad(
            self.router,
            [mariadb_primary(self.my), postgres_primary(self.pg)],
            accounts=ACCOUNTS,
            rate=APP_RATE,
        ).start()
        if not load.wait_for(20, 20.0):
            raise DemoFailed(f"the application could not write: {load.errors[:3]}")
        console.print(
            f"each transaction: read the router, insert a ledger row, change an account's "
            f"balance, commit; about {APP_RATE:.0f}/s. Rejected writes are retried 20 ms later."
        )
        show_load(load)
        console.print()

    def move(self) -> None:
        """Steps 4 to 6: create, start and verify the move under the application's load."""
        load = self.app()
        step("4. Create the move (it checks both sides, creates the tables)")
        run("check", self.source, "-q")
        run("move", "create", MOVE, "--source", self.source, "--target", self.target)

        step("5. Start it in the background: copy, then replicate")
        self.runner = runner = Runner(
            ["move", "start", MOVE, "--source", self.source, "--target", self.target],
            self.workdir / "move-start.log",
        )
        runner.start()
        t0 = time.monotonic()
        runner.wait_phase("replicating", REPLICATING_TIMEOUT)
        console.print(f"replicating after {time.monotonic() - t0:.1f}s\n")
        time.sleep(2.0)
        run("move", "status", MOVE)
        show_load(load)
        console.print()

        step("6. Verify while the application keeps writing")
        time.sleep(2.0)
        run("move", "verify", MOVE, "--source", self.source, "--target", self.target)

    def switch(self) -> None:
        """Step 7: switch the writes to PostgreSQL, with the router file as the route."""
        load = self.app()
        step("7. Switch the writes to PostgreSQL")
        route = (
            f'printf %s "$FERRYMAN_NEW_PRIMARY" > {shlex.quote(str(self.router))}.tmp && '
            f"mv {shlex.quote(str(self.router))}.tmp {shlex.quote(str(self.router))}"
        )
        switch = [
            "move",
            "switch",
            MOVE,
            "--source",
            self.source,
            "--target",
            self.target,
            "--route",
            route,
            "--json",
        ]
        console.print(f"[bold]$ ferryman {shown(switch)}[/]")
        result = subprocess.run(
            [sys.executable, "-m", "ferryman", *switch],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        self.at_switch = load.snapshot()
        console.print(f"[dim](exit {result.returncode})[/]")
        if result.returncode != 0:
            console.print(redact(result.stdout.strip()), markup=False)
            console.print(redact(result.stderr.strip()), markup=False)
            raise DemoFailed(f"ferryman move switch exited {result.returncode}")
        doc = json.loads(result.stdout)
        self.downtime = float(doc["downtime_seconds"])
        steps = RichTable(title="switch steps")
        steps.add_column("step")
        steps.add_column("seconds", justify="right")
        for s in doc["steps"]:
            steps.add_row(str(s["step"]), f"{float(s['seconds']):.3f}")
        console.print(steps)
        console.print(
            f"switched: writes go to [bold]{doc['new_primary']}[/]; "
            f"write downtime (fence → route done) [bold green]{self.downtime:.3f} s[/]"
        )
        console.print(f"router {self.router}: [bold]{self.router.read_text()}[/]\n")
        run("move", "status", MOVE)

    def after_switch(self) -> None:
        """Step 8: the application writes to PostgreSQL; MariaDB refuses writes."""
        load = self.app()
        step("8. The application writes to PostgreSQL; MariaDB refuses writes")
        time.sleep(AFTER_SWITCH)
        after = load.snapshot()
        grid = RichTable(title="transactions the application saw acknowledged")
        grid.add_column("")
        for label in after:
            grid.add_column(label, justify="right")
        grid.add_row("until `move switch` returned", *(f"{self.at_switch[k]:,}" for k in after))
        grid.add_row(
            f"in the {AFTER_SWITCH:.0f} s after it",
            *(f"{after[k] - self.at_switch[k]:,}" for k in after),
        )
        console.print(grid)
        console.print(
            f"writes the fence rejected (and the application retried): {load.rejected}"
            + (f", e.g. [dim]{load.first_rejection}[/]" if load.first_rejection else "")
        )
        if after["PostgreSQL"] <= self.at_switch["PostgreSQL"]:
            raise DemoFailed("the application did not write to PostgreSQL after the switch")
        if after["MariaDB"] != self.at_switch["MariaDB"]:
            raise DemoFailed("MariaDB acknowledged application writes after the switch")
        try:
            self.my.execute(
                "INSERT INTO ledger (id, account_id, amount, note) "
                "VALUES (999999999, 1, 1, 'by hand')",
                MOVE,
            )
        except Exception as exc:
            message = exc.args[-1] if exc.args else exc
            console.print(
                f"MariaDB, an admin session: INSERT INTO ledger … → [red]{message}[/]",
            )
        else:
            raise DemoFailed("MariaDB accepted a write after the switch (it should be fenced)")
        console.print(
            "[dim]only ferryman's replication back (PostgreSQL → MariaDB) writes there now[/]\n"
        )

    def finish(self) -> None:
        """Steps 9 and 10: verify again, stop the application, complete the move."""
        load = self.app()
        runner = self.runner
        if runner is None:
            raise DemoFailed("the move was not started")
        step("9. Verify again: replication back keeps MariaDB equal")
        run("move", "verify", MOVE, "--source", self.source, "--target", self.target)

        step("10. Stop the application; complete the move")
        load.stop()
        show_load(load, " over its whole run")
        if not wait_same(self.my, self.pg, 30.0):
            console.print("[yellow]MariaDB has not caught up with PostgreSQL within 30s[/]")
        run("move", "complete", MOVE, "--source", self.source, "--target", self.target)
        code = runner.wait_exit(RUNNER_EXIT_TIMEOUT)
        console.print(f"`ferryman move start` exited by itself (exit {code})\n")
        run("move", "status", MOVE)


def main() -> None:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="ferryman-demo-"))
    os.environ["FERRYMAN_STATE"] = str(workdir / "state.db")
    my: MariaDBServer | None = None
    pg: PostgresServer | None = None
    demo: Demo | None = None
    failed: str | None = None
    try:
        step("1. Start throwaway servers")
        my = start_mariadb(server_id=1001)
        pg = start_postgres()
        register_secret(my.admin_password)
        register_secret(pg.admin_password)
        console.print(f"MariaDB    {redact(my.url())}  (binlog ROW/FULL, id {my.server_id})")
        console.print(f"PostgreSQL {redact(pg.url())}  (wal_level=logical)")
        console.print("[dim]the demo masks its throwaway passwords as *** too[/]")
        console.print(f"[bold]$ export FERRYMAN_STATE={shlex.quote(str(workdir / 'state.db'))}[/]")
        console.print("[dim]  (the move's state store: every `ferryman move` below uses it)[/]\n")

        demo = Demo(workdir, my, pg)
        demo.shop()
        demo.application()
        demo.move()
        demo.switch()
        demo.after_switch()
        demo.finish()
        step("11. Summary")
        failed = summary(my, pg, demo.app(), demo.downtime)
    except DemoFailed as exc:
        failed = str(exc)
    except subprocess.TimeoutExpired as exc:
        what = " ".join(map(str, exc.cmd[3:6]))
        failed = f"ferryman {redact(what)} did not finish within {exc.timeout:.0f}s"
    finally:
        if demo is not None:
            demo.stop()
        if my is not None:
            my.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if failed:
        console.print(f"[bold red]demo failed:[/] {failed}", markup=True)
        raise SystemExit(1)
    console.print(
        f"[bold green]demo finished in {time.monotonic() - started:.1f}s[/]; "
        "servers stopped and removed"
    )


def summary(my: MariaDBServer, pg: PostgresServer, load: AppLoad, downtime: float) -> str | None:
    """Print the final table; the reason the demo failed, or None."""
    c = counts(my, pg)
    on_pg = {int(r[0]) for r in pg.execute("SELECT id FROM public.ledger", MOVE)}
    missing = load.acknowledged_ids - on_pg
    acked = load.snapshot()
    grid = RichTable(title=f"move {MOVE}: MariaDB → PostgreSQL", show_header=True)
    grid.add_column("")
    grid.add_column("MariaDB", justify="right")
    grid.add_column("PostgreSQL", justify="right")
    for table, (a, b) in c.items():
        grid.add_row(f"rows in {table}", f"{a:,}", f"{b:,}")
    a_sum, b_sum = balances(my, pg)
    grid.add_row("sum of balances", a_sum, b_sum)
    grid.add_row(
        "transactions acknowledged",
        f"{acked.get('MariaDB', 0):,}",
        f"{acked.get('PostgreSQL', 0):,}",
    )
    console.print(grid)
    ok = "[bold green]yes[/]" if not missing else f"[bold red]no: {len(missing)} missing[/]"
    console.print(
        f"every acknowledged ledger id ({len(load.acknowledged_ids):,}) is on PostgreSQL: {ok}"
    )
    console.print(f"write downtime measured by `ferryman move switch`: [bold]{downtime:.3f} s[/]")
    console.print(
        f"longest write pause the application saw: [bold]{load.longest_pause:.3f} s[/] "
        f"(application rate {load.rate_seen():.0f} tx/s, {load.rejected} rejected writes "
        "retried)"
    )
    if load.errors:
        console.print(f"[yellow]other application errors ({len(load.errors)}):[/]")
        for text in load.errors[:5]:
            console.print(f"  {redact(text)}", markup=False)
    if missing:
        first = ", ".join(str(i) for i in sorted(missing)[:10])
        return f"{len(missing)} acknowledged ledger id(s) are not on PostgreSQL: {first}"
    return None


if __name__ == "__main__":
    main()
