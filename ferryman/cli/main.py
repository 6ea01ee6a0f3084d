"""The entry point: run the command line and turn every error into a message on stderr and an
exit code, in one place: 0 success, 1 findings / failed precondition, 2 error, 130 aborted."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from ferryman.cli.app import cli
from ferryman.cli.output import err, esc
from ferryman.core.errors import FerrymanError
from ferryman.core.redact import redact


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; turn every error into a message on stderr and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except FerrymanError as exc:
        err.print(f"[bold red]error:[/] {esc(exc.render())}")
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 2 else exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:  # a defect: say so briefly, never a raw traceback unless asked
        if debug:
            traceback.print_exc()
        err.print(
            f"[bold red]internal error:[/] {esc(redact(f'{type(exc).__name__}: {exc}'))}\n"
            "  this is a bug in ferryman; rerun with --debug for the traceback and report it"
        )
        sys.exit(2)
