"""The live move's resumable state (pipeline/movestate.py): states stored by earlier ferryman
versions (a plain JSON object without ``version``) still load, and a move resumes from one."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import pytest

import ferryman.engines  # noqa: F401  (registers the engines)
from ferryman.core.apply import ApplyBatch, Checkpoint
from ferryman.core.errors import ConfigError
from ferryman.core.protocols import MoveTarget
from ferryman.core.registry import endpoint
from ferryman.pipeline.movestate import VERSION, MoveState
from ferryman.workflow.session import MoveRef, checkpoint_key
from ferryman.workflow.state import open_store
from tests.conftest import MySQLDatabase
from tests.movekit import MoveRunner, Writer, create_move, differences, preload, wait_equal

# As ferryman wrote it before the state had a version (Checkpoint.to_text: sort_keys JSON of
# the mover's dict): mid-copy, one table done, one with a key cursor, one not started.
STORED_BEFORE_VERSIONS = (
    '{"events": 17, "tables": {"acct": {"cursor": [1200], "done": false, "rows": 1200}, '
    '"order": {"cursor": null, "done": false, "rows": 0}, '
    '"pairs": {"cursor": null, "done": true, "rows": 1000}}}'
)


def test_a_state_stored_before_versions_loads_as_version_1() -> None:
    state = MoveState.load(json.loads(STORED_BEFORE_VERSIONS), "m/1")
    assert state.version == 1
    assert state.events == 17
    assert not state.identity_synced
    assert state.tables["acct"].cursor == [1200] and not state.tables["acct"].done
    assert state.tables["pairs"].done and state.tables["pairs"].rows == 1000
    again = state.to_json()
    assert again.pop("version") == VERSION
    assert again.pop("identity_synced") is False
    assert again == json.loads(STORED_BEFORE_VERSIONS)


def test_a_state_of_a_newer_version_is_refused_naming_the_checkpoint() -> None:
    with pytest.raises(ConfigError, match=r"'m/1'.*newer ferryman"):
        MoveState.load({"version": VERSION + 1, "tables": {}}, "m/1")
    with pytest.raises(ConfigError, match="not readable"):
        MoveState.load({"tables": {"t": {"done": "perhaps"}}}, "m/1")


def _rewrite_checkpoint(state_path: Path, name: str, target_url: str, text: str) -> None:
    """Replace the move's checkpoint state on the target by ``text`` (same position)."""
    spec = MoveRef(open_store(str(state_path)), name).spec()
    key = checkpoint_key(spec)
    with endpoint(target_url) as ep:
        applier = cast(MoveTarget, ep).open_applier()
        try:
            ckpt = applier.read_checkpoint(key)
            assert ckpt is not None and ckpt.position is not None
            applier.apply(ApplyBatch([], Checkpoint(key, ckpt.position, json.loads(text))))
        finally:
            applier.close()


def _stored_state(state_path: Path, name: str, target_url: str) -> dict[str, Any]:
    spec = MoveRef(open_store(str(state_path)), name).spec()
    with endpoint(target_url) as ep:
        applier = cast(MoveTarget, ep).open_applier()
        try:
            ckpt = applier.read_checkpoint(checkpoint_key(spec))
        finally:
            applier.close()
    assert ckpt is not None
    return ckpt.state


def test_a_move_resumes_from_a_state_stored_before_versions(
    tmp_path: Path, mysql_db: MySQLDatabase, mysql_db2: MySQLDatabase
) -> None:
    source, target = mysql_db, mysql_db2
    preload(source, "mysql", rows=3000)
    state = tmp_path / "state.db"
    writer = Writer(source, "mysql", rate=200).start()
    try:
        r = create_move(state, "old", source.url, target.url, "--chunk-rows", "400")
        assert r.code == 0, r.text
        runner = MoveRunner(state, "old", source.url, target.url).start()
        runner.wait_phase("replicating")
        assert runner.stop() == 0
        # the target holds a checkpoint as an earlier ferryman left it in the middle of the
        # copy: acct copied up to key 1200, order not yet, pairs done
        _rewrite_checkpoint(state, "old", target.url, STORED_BEFORE_VERSIONS)
        runner.start()
        runner.wait_phase("replicating")
        time.sleep(1.0)
    finally:
        writer.stop()
    wait_equal(lambda: differences(source, "mysql", target, "mysql"))
    assert runner.stop() == 0
    resumed = _stored_state(state, "old", target.url)
    assert resumed["version"] == VERSION
    assert all(t["done"] for t in resumed["tables"].values())
    assert resumed["tables"]["acct"]["rows"] >= 1200
    assert resumed["events"] >= 17
