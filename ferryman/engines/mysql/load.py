"""Bulk loading into MySQL/MariaDB with ``LOAD DATA LOCAL INFILE``.

Measured against multi-row INSERT it parses several times faster, and it takes the chunk bytes as
they come from the source. The chunk is written to a file in RAM (``/dev/shm`` when present)
that this writer reuses. The session runs in strict mode with foreign-key and unique checks off
(the copy is into empty tables, primary key enforced); any warning the server raises while
loading (a value changed to fit) fails the chunk, so nothing is changed silently.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import MySQLdb

from ferryman.core.copy import (
    Chunk,
    TableCopy,
    Wire,
    WireFormat,
    connection_lost,
    rows_rejected,
    write_denied,
)
from ferryman.core.errors import FerrymanError, SchemaError
from ferryman.core.url import DatabaseURL
from ferryman.engines.mysql.connection import connect, quote_literal
from ferryman.engines.mysql.connection import quote_ident as q
from ferryman.engines.mysql.own import create_marks

LOADER_SESSION = (
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', "
    "foreign_key_checks = 0, unique_checks = 0"
)
# fewer gap locks between parallel loaders (works on MySQL and MariaDB alike)
LOADER_ISOLATION = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
_RETRYABLE = (1213, 1205)  # deadlock, lock wait timeout: the chunk rolled back whole
_ATTEMPTS = 5
_FORMATS = {
    WireFormat.CSV: "CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' ENCLOSED BY '\"' "
    "ESCAPED BY '' LINES TERMINATED BY '\\n'",
    WireFormat.MYSQL_TSV: "CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
    "LINES TERMINATED BY '\\n'",
}


def load_statement(tc: TableCopy, path: str) -> str:
    targets: list[str] = []
    sets: list[str] = []
    # MariaDB: in a LOAD DATA with a SET clause, a 0 loaded straight into an AUTO_INCREMENT
    # column takes the next number despite NO_AUTO_VALUE_ON_ZERO; through a variable it stays 0
    via_set = any(w is not Wire.TEXT for w in tc.wires)
    for i, (name, wire) in enumerate(zip(tc.target_columns, tc.wires, strict=True)):
        if wire is Wire.TEXT and not (via_set and tc.columns[i].identity is not None):
            targets.append(q(name))
            continue
        var = f"@v{i}"
        targets.append(var)
        if wire is Wire.TEXT:
            sets.append(f"{q(name)} = {var}")
        elif wire is Wire.HEX:
            sets.append(f"{q(name)} = UNHEX({var})")
        elif wire is Wire.CHARS:
            sets.append(f"{q(name)} = CONVERT({var} USING utf8mb4)")
        else:
            sets.append(f"{q(name)} = CAST(CONV({var}, 2, 10) AS UNSIGNED)")
    sql = (
        f"LOAD DATA LOCAL INFILE {quote_literal(path)} INTO TABLE "
        f"{q(tc.target_namespace)}.{q(tc.target_name)} {_FORMATS[tc.wire_format]} "
        f"({', '.join(targets)})"
    )
    if sets:
        sql += " SET " + ", ".join(sets)
    return sql


class MySQLChunkWriter:
    """Loads chunks through one connection; each chunk commits on its own."""

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.conn = connect(url, database=False, local_infile=True)
        cur = self.conn.cursor()
        cur.execute(LOADER_SESSION)
        cur.execute(LOADER_ISOLATION)
        self._mark = create_marks(cur)
        cur.close()
        shm = Path("/dev/shm")
        fd, name = tempfile.mkstemp(
            prefix="ferryman-", suffix=".load", dir=shm if shm.is_dir() else None
        )
        os.close(fd)
        self.path = name
        self._statements: dict[tuple[str, str], str] = {}

    def write(self, chunk: Chunk) -> None:
        if not chunk.rows:
            return
        tc = chunk.table
        statement = self._statements.get((tc.target_namespace, tc.target_name))
        if statement is None:
            statement = load_statement(tc, self.path)
            self._statements[(tc.target_namespace, tc.target_name)] = statement
        with open(self.path, "wb") as fh:
            fh.write(chunk.data)
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                self._load(tc, statement, chunk.rows)
                return
            except MySQLdb.OperationalError as exc:
                if exc.args[0] not in _RETRYABLE or attempt == _ATTEMPTS:
                    raise load_error(tc, exc) from None
                time.sleep(0.05 * attempt)

    def _load(self, tc: TableCopy, statement: str, rows: int) -> None:
        cur = self.conn.cursor()
        try:
            cur.execute("START TRANSACTION")
            if self._mark:
                cur.execute(self._mark)  # ferryman's own write (the drift guard)
            cur.execute(statement)
            loaded = cur.rowcount
            if self.conn.warning_count():
                cur.execute("SHOW WARNINGS LIMIT 3")
                warnings = "; ".join(str(w[2]) for w in cur.fetchall())
                raise SchemaError(
                    f"MySQL changed values while loading {tc.target_label}: {warnings}",
                    hint="the target column cannot hold the source value exactly; widen it "
                    "(--type-override) and rerun",
                    obj=tc.target_label,
                )
            if loaded != rows:
                raise SchemaError(
                    f"MySQL loaded {loaded} rows into {tc.target_label}, expected {rows}",
                    hint="check the target table for triggers or a different definition",
                    obj=tc.target_label,
                )
            cur.execute("COMMIT")
        except MySQLdb.OperationalError as exc:
            _rollback(cur)
            if exc.args and exc.args[0] in _RETRYABLE:
                raise
            raise load_error(tc, exc) from None
        except MySQLdb.Error as exc:
            _rollback(cur)
            raise load_error(tc, exc) from None
        except BaseException:
            _rollback(cur)
            raise
        finally:
            cur.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(MySQLdb.Error):
            self.conn.close()


def _rollback(cur: Any) -> None:
    with contextlib.suppress(MySQLdb.Error):
        cur.execute("ROLLBACK")


def load_error(tc: TableCopy, exc: Exception) -> FerrymanError:
    code = exc.args[0] if exc.args else None
    detail = exc.args[-1] if exc.args else str(exc)
    if code in (1148, 3948, 2068, 4166):  # local infile disabled (server or client)
        return SchemaError(
            f"the target refuses LOAD DATA LOCAL INFILE ({detail})",
            hint="enable it on the target: SET GLOBAL local_infile = 1",
            obj=tc.target_label,
        )
    if code in (2006, 2013, 1927, 2055):
        return connection_lost("target", f"loading {tc.target_label}", detail)
    if code in (1142, 1044, 1045):
        return write_denied(tc, detail, f"{tc.target_namespace}.*")
    return rows_rejected(tc, "MySQL", detail)
