"""``ferryman serve``: the control server (HTTP JSON API, web page, Prometheus metrics)."""

from __future__ import annotations

import logging

import click

from ferryman.cli.context import state_path
from ferryman.cli.output import err
from ferryman.logs import RedactingFilter
from ferryman.server import config as serve_config
from ferryman.server.app import serve as run_server
from ferryman.server.services import Services


@click.command("serve")
@click.option(
    "--http",
    default=serve_config.DEFAULT_HTTP,
    show_default=True,
    metavar="HOST:PORT",
    help="Where to listen. Anything but loopback requires a token.",
)
@click.option(
    "--token-file",
    metavar="FILE",
    help="The access token (one line). Without it a non-loopback bind gets a random token, "
    "printed once.",
)
@click.option("--tls-cert", metavar="PEM", help="Serve HTTPS with this certificate ...")
@click.option("--tls-key", metavar="PEM", help="... and this private key.")
@click.option("--source-password-file", metavar="FILE", help="Sources' password (verify, switch).")
@click.option("--target-password-file", metavar="FILE", help="Targets' password (verify, switch).")
@click.pass_context
def serve(
    ctx: click.Context,
    http: str,
    token_file: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    source_password_file: str | None,
    target_password_file: str | None,
) -> None:
    """Serve the workflows of the state store: a web page, a JSON API and /metrics.

    The page shows every move and sync live (progress, lag, charts, verify results, history)
    with buttons to pause, resume, throttle, verify, switch, reverse, complete and cancel.
    The API under /api/ does the same for scripts; /metrics is for Prometheus, /healthz for
    liveness. Passwords of the sides come from FERRYMAN_SOURCE_PASSWORD /
    FERRYMAN_TARGET_PASSWORD or the password files, as for `ferryman move`.

    Listens on loopback unless told otherwise; any other address needs a token, sent as
    `Authorization: Bearer TOKEN` or typed into the page's login form. Runs until Ctrl-C.
    """
    cfg = serve_config.load(
        http,
        state=state_path(ctx),
        token_file=token_file,
        tls_cert=tls_cert,
        tls_key=tls_key,
        source_password_file=source_password_file,
        target_password_file=target_password_file,
    )
    _log_to_stderr()
    services = Services.create(cfg)
    if cfg.token_generated:
        # shown once, on stdout (never in the log): the operator copies it now or restarts
        click.echo(f"access token (shown once): {cfg.token}")

    def ready(url: str) -> None:
        where = services.stores.where()
        auth = "token required" if cfg.token else "no token (loopback)"
        err.print(f"ferryman serve: {url} ({auth}; state {where})", markup=False, highlight=False)

    run_server(services, ready=ready)


def _log_to_stderr() -> None:
    """The server's own log (startup, audit of every action, refused requests) at INFO,
    redacted like every ferryman log; uvicorn's errors too."""
    server_log = logging.getLogger("ferryman.server")
    if server_log.getEffectiveLevel() > logging.INFO:
        server_log.setLevel(logging.INFO)
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    uv = logging.getLogger("uvicorn.error")
    uv.handlers[:] = [handler]
    uv.setLevel(logging.WARNING)
    uv.propagate = False
