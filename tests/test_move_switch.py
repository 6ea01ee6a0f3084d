"""`ferryman move switch / reverse / complete` end to end: an application writes ≥ 50
transactions/s through a router file that `--route` rewrites; after `switch` it writes to the
target, reverse replication brings its writes back, `reverse` switches back; every acknowledged
write is present on both sides and the sides compare equal after each switch. The write
downtime `switch` measures (fence → route done) is asserted ≤ 1 s and printed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TempDatabase
from tests.helpers import Result, ferryman
from tests.movekit import MoveRunner, create_move, differences, wait_equal
from tests.switchkit import (
    APP_TABLES,
    RoutedWriter,
    Side,
    app_write_fails,
    ids,
    load_app,
    route_command,
    write_route,
)

DOWNTIME_BOUND = 1.0


def cutover(
    state: Path, op: str, name: str, src: str, dst: str, *args: str, env: Any = None
) -> Result:
    return ferryman(
        "move",
        "--state",
        str(state),
        op,
        name,
        "--source",
        src,
        "--target",
        dst,
        *args,
        env=env,
    )


def equal(source: Side, target: Side) -> list[str]:
    return differences(
        source.db, source.engine, target.db, target.engine, APP_TABLES, target.schema
    )


class Story:
    """One move with a runner and a routed application."""

    def __init__(
        self, tmp_path: Path, source: Side, target: Side, name: str = "cut", rows: int = 2000
    ) -> None:
        self.state = tmp_path / "state.db"
        self.router = tmp_path / "router"
        self.source, self.target = source, target
        self.name = name
        load_app(source.db, source.engine, rows)
        r = create_move(self.state, name, source.db.url, target.db.url)
        assert r.code == 0, r.text
        self.runner = MoveRunner(self.state, name, source.db.url, target.db.url).start()
        self.runner.wait_phase("replicating")
        write_route(self.router, source.db.url)
        self.writer = RoutedWriter(self.router, [source, target])

    def op(self, op: str, *args: str) -> Result:
        return cutover(
            self.state,
            op,
            self.name,
            self.source.db.url,
            self.target.db.url,
            "--route",
            route_command(self.router),
            *args,
        )

    def switch(self, op: str = "switch", *args: str) -> dict[str, Any]:
        r = self.op(op, "--json", *args)
        assert r.code == 0, r.text + self.runner.output()[-3000:]
        doc = dict(json.loads(r.out))
        print(f"{op}: downtime {doc['downtime_seconds']:.3f} s; steps {doc['steps']}")
        return doc

    def close(self) -> None:
        self.writer.stop()
        if self.runner.proc is not None and self.runner.proc.poll() is None:
            self.runner.stop()


def _story(tmp_path: Path, source: Side, target: Side) -> None:
    story = Story(tmp_path, source, target)
    try:
        writer = story.writer.start()
        started = time.monotonic()
        time.sleep(2.0)

        doc = story.switch()
        assert doc["downtime_seconds"] <= DOWNTIME_BOUND, doc
        assert doc["new_primary"] and target.db.name in doc["new_primary"]
        st = story.runner.status()
        assert st["phase"] == "switched" and st["new_primary"] == doc["new_primary"], st
        time.sleep(2.0)
        assert writer.acked[target.label], "the application never wrote to the target"
        refused = app_write_fails(source)
        assert refused and "fenced" in refused, refused
        assert app_write_fails(target) is None
        # reverse replication brings the target's writes back to the source
        writer.pause()
        wait_equal(lambda: equal(source, target))
        assert set(writer.acked[target.label]) <= ids(source)
        writer.resume()

        back = story.switch("reverse")
        assert back["downtime_seconds"] <= DOWNTIME_BOUND, back
        time.sleep(2.0)
        assert app_write_fails(source) is None
        refused = app_write_fails(target)
        assert refused and "fenced" in refused, refused
        writer.stop()
        seconds = time.monotonic() - started
        rate = writer.count() / seconds
        print(
            f"application: {writer.count()} acknowledged transactions in {seconds:.1f}s "
            f"({rate:.0f}/s), longest write pause {writer.longest_gap:.3f}s"
        )
        assert rate >= 50, rate
        wait_equal(lambda: equal(source, target))
        acked = {i for v in writer.acked.values() for i in v}
        assert acked <= ids(source) and acked <= ids(target)
        assert story.runner.status()["phase"] == "replicating"
    finally:
        story.close()


def test_switch_mariadb_to_mariadb(
    tmp_path: Path, mysql_db: TempDatabase[Any], mysql_db2: TempDatabase[Any]
) -> None:
    _story(tmp_path, Side("source", mysql_db, "mysql"), Side("target", mysql_db2, "mysql"))


def test_switch_postgres_to_postgres(
    tmp_path: Path, pg_db: TempDatabase[Any], pg_db2: TempDatabase[Any]
) -> None:
    _story(tmp_path, Side("source", pg_db, "postgres"), Side("target", pg_db2, "postgres"))


def test_switch_mariadb_to_postgres(
    tmp_path: Path, mysql_db: TempDatabase[Any], pg_db: TempDatabase[Any]
) -> None:
    _story(
        tmp_path,
        Side("source", mysql_db, "mysql"),
        Side("target", pg_db, "postgres", schema=mysql_db.name),
    )


@pytest.fixture
def story_mm(tmp_path: Path, mysql_db: TempDatabase[Any], mysql_db2: TempDatabase[Any]) -> Any:
    story = Story(tmp_path, Side("source", mysql_db, "mysql"), Side("target", mysql_db2, "mysql"))
    try:
        yield story
    finally:
        story.close()
