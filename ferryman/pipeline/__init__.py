"""Data paths between endpoints, written against the protocols in :mod:`ferryman.core` (no engine
is imported here):

- ``schema``: introspect a source, translate it for the target, apply it all-or-nothing;
- ``verdict``: per-table verdicts for ``ferryman check`` (does a table move, and how);
- ``copier``: ``ferryman copy``, every table as of one source position, in parallel chunks;
- ``mover``: the live move (``move start``), copy while the source writes, then replicate its
  change stream; resumable from its checkpoint;
- ``differ``: ``ferryman diff``, an exact comparison of two databases inside the databases;
  ``repair``: ``diff --repair``, the minimal change that makes B equal A;
- ``hooks``: named points where tests (and people debugging) pause or SIGKILL the process.
"""
