"""``ferryman move reverse``: switch a switched move's writes back to its source."""

from __future__ import annotations

from ferryman.cli.move.switch import switch_command

REVERSE_HELP = """Switch the writes of the switched move NAME back to the source.

    The same journaled procedure as `move switch`, the other way: the target is fenced, the
    reverse stream applied up to its final position, the source unfenced and --route run; the
    forward stream then resumes from the source's position. Options as for `move switch`.
    """

reverse = switch_command("reverse", REVERSE_HELP)
