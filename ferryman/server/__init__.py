"""``ferryman serve``: the control server — HTTP JSON API, live web page, Prometheus metrics.

A thin front end like the CLI: every answer comes from the workflow API
(:class:`~ferryman.workflow.api.Move`) and the state store; the server adds no workflow logic.
What it adds is a view over time (a ring buffer of status samples for the charts and the
rates) and verifies run in its own threads.

- :mod:`~ferryman.server.config`: ``--http``, token, TLS (validated, no side effects).
- :mod:`~ferryman.server.app`: the routes assembled behind the guard; the uvicorn listener.
- :mod:`~ferryman.server.security`: the guard (token, sessions, cross-site checks, rate limit).
- :mod:`~ferryman.server.api`: the JSON API; :mod:`~ferryman.server.pages`: the page's routes;
  :mod:`~ferryman.server.views`: its HTML; :mod:`~ferryman.server.charts`: its SVG charts;
  ``static/``: its script and style (served by the server itself; nothing from a CDN).
- :mod:`~ferryman.server.metrics`: ``/metrics`` (a collector reading the status at scrape time).
- :mod:`~ferryman.server.monitor`: the last hour of samples; :mod:`~ferryman.server.jobs`:
  verify jobs; :mod:`~ferryman.server.stores`: a store connection per thread;
  :mod:`~ferryman.server.services`: all of these in one object for the routes.
"""
