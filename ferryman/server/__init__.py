"""The control server (``ferryman serve``): one status object rendered as HTML and JSON."""
