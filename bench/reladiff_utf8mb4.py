"""reladiff 0.6 as ``make bench`` runs it: MySQL/MariaDB read in utf8mb4.

reladiff 0.6 (through sqeleton) connects to MySQL with ``charset="utf8"``, the 3-byte
utf8mb3, so every character outside the Basic Multilingual Plane (emoji) is read as '?': on
the benchmark table it reports some 155,000 rows that do not differ and spends minutes reading
them. That measures a bug, not the tool. This wrapper replaces only that connection setting
(``utf8mb4``) and then runs reladiff's own command line unchanged, so the peer is compared at
its best. Run with reladiff's own interpreter: ``.bench/reladiff/bin/python THIS ARGS...``.
"""

from __future__ import annotations

import sys
from typing import Any

from reladiff.__main__ import main  # type: ignore[import-not-found]
from sqeleton.databases import mysql  # type: ignore[import-not-found]


def _create_connection(self: Any) -> Any:
    connector = mysql.import_mysql()
    return connector.connect(charset="utf8mb4", use_unicode=True, **self._args)


mysql.MySQL.create_connection = _create_connection

if __name__ == "__main__":
    sys.argv[0] = "reladiff"
    sys.exit(main())
