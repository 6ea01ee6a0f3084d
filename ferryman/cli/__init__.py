"""The ``ferryman`` command line: parse, call the library, render (text, JSON, HTML).

- :mod:`~ferryman.cli.main`: :func:`main`, where errors become messages and exit codes.
- :mod:`~ferryman.cli.app`: the root command group; it adds one command per module:
  :mod:`~ferryman.cli.check`, :mod:`~ferryman.cli.schema`, :mod:`~ferryman.cli.copy`,
  :mod:`~ferryman.cli.diff`, :mod:`~ferryman.cli.sync` and the :mod:`~ferryman.cli.move` group (a
  module per subcommand).
- Shared: :mod:`~ferryman.cli.options` (table, value, connection and ``--json`` options),
  :mod:`~ferryman.cli.output` (stdout/stderr consoles, URL redaction, ``say`` callbacks),
  :mod:`~ferryman.cli.context` (``--debug``/``--state`` and the state store),
  :mod:`~ferryman.cli.progress` (progress bars or log lines),
  :mod:`~ferryman.cli.diff_render` (a diff result as text, JSON, HTML and an exit code).
"""

from ferryman.cli.main import main

__all__ = ["main"]
