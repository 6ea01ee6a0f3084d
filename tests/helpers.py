"""Test helpers: run the real CLI in a subprocess, read catalogs independently of ferryman."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from ferryman.testing.servers import MariaDBServer, PostgresServer


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def ferryman(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Result:
    """Run ``python -m ferryman ARGS`` as a user would; no stdin, no terminal. ``env``: extra
    environment variables."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "ferryman", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def pg_columns(server: PostgresServer, database: str, schema: str, table: str) -> dict[str, str]:
    """column -> format_type, read straight from pg_catalog."""
    rows = server.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = {pg_lit(schema)} AND c.relname = {pg_lit(table)} "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        database,
    )
    return {str(name): str(kind) for name, kind in rows}


def mysql_columns(server: MariaDBServer, database: str, table: str) -> dict[str, tuple[Any, ...]]:
    """column -> (COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA) from information_schema."""
    rows = server.execute(
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA "
        "FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = {my_lit(database)} AND TABLE_NAME = {my_lit(table)} "
        "ORDER BY ORDINAL_POSITION"
    )
    return {str(r[0]): tuple(r[1:]) for r in rows}


def pg_lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def my_lit(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


#: the state store's tables before runtime controls, kept verifies and drift (an old store)
OLD_SCHEMA = """
CREATE TABLE workflows (
  name TEXT PRIMARY KEY, spec TEXT NOT NULL, phase TEXT NOT NULL, error TEXT,
  status TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE history (
  id INTEGER PRIMARY KEY AUTOINCREMENT, workflow TEXT NOT NULL, at REAL NOT NULL,
  kind TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE journal (
  id INTEGER PRIMARY KEY AUTOINCREMENT, workflow TEXT NOT NULL, attempt INTEGER NOT NULL,
  step TEXT NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL, at REAL NOT NULL);
"""
