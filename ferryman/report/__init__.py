"""Self-contained HTML report of a ``ferryman diff`` result.

The input is the ``--json`` document of ``ferryman diff``. The page has no external resources
(inline CSS and SVG, no script), escapes every piece of data, and reads the same in print and in a
narrow window. Each table gets a key-space strip: one cell per bucket of the key space (aggregated
to at most :data:`MAX_CELLS` cells), shaded by how many differing rows the bucket holds, so a DBA
sees at a glance whether the differences are spread out or sit in one region of the keys.

Everything here is defensive: any optional field may be missing or of the wrong type, and such a
field is shown as missing rather than raising.

Modules, by part of the page: :mod:`~ferryman.report.page` (the shell: head, order of the
parts, footer), :mod:`~ferryman.report.summary` (header and summary table),
:mod:`~ferryman.report.table` (a table's section), :mod:`~ferryman.report.keyspace` (its
key-space strip), :mod:`~ferryman.report.samples` (its differing rows),
:mod:`~ferryman.report.text` (values and numbers as HTML), :mod:`~ferryman.report.style` (CSS),
:mod:`~ferryman.report.fields` (defensive reading of the document),
:mod:`~ferryman.report.write` (the atomic file write).
"""

from ferryman.report.keyspace import MAX_CELLS
from ferryman.report.page import render_html
from ferryman.report.text import render_value
from ferryman.report.write import write_html

__all__ = ["MAX_CELLS", "render_html", "render_value", "write_html"]
