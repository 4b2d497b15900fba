"""The `visim` executable: the first code that runs, before anything heavy is imported.

It installs the Ctrl-C handling of visim.cli.interrupts, and only then imports the app, so an
interrupt during any import, the app's included, still ends in one line and exit code 130.
"""

from __future__ import annotations

import sys

from visim.cli import interrupts


def main() -> None:
    interrupts.install()
    code: str | int | None = 0
    try:
        from visim.cli.app import app

        app()
    except KeyboardInterrupt:  # raised outside any command, e.g. while options are parsed
        interrupts.report_interrupt()
        code = interrupts.EXIT_INTERRUPTED
    except SystemExit as leaving:
        code = leaving.code
    interrupts.exiting(code)
    sys.exit(code)
