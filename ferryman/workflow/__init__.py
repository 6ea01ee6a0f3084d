"""Named workflows (``ferryman move``): lifecycle, cutover journal and state store."""
