"""ferryman's own mark on a PostgreSQL target: how the drift guard tells its writes apart.

Every transaction ferryman writes to a target begins with :data:`MARK`, a transactional
logical message (prefix :data:`OWN_PREFIX`). pgoutput sends it in its transaction, before the
rows, so a feed opened with ``own_marks`` knows the transaction is ferryman's at once and skips
its row messages undecoded. A message needs no table, no publication entry and no privilege
beyond the function's (granted to PUBLIC), costs one WAL record, and unlike a replication origin
(``pg_replication_origin_session_setup``, superuser only) works for any target account.
"""

from __future__ import annotations

OWN_PREFIX = "ferryman.own"
MARK = f"SELECT pg_logical_emit_message(true, '{OWN_PREFIX}', '')"
