"""Ctrl-C at any moment of any command: one line on stderr and exit code 130.

A terminal's Ctrl-C sends SIGINT to the whole process group, whatever the command is doing.
Python turns it into a KeyboardInterrupt wherever the main thread happens to be, and two
places make that unsafe:

- inside an import: the module is left half initialised, and libraries turn the exception
  into another one (numpy's "cannot load module more than once", a RecursionError) or take it
  for a missing optional module and carry on, so the interrupt is lost or misreported. Heavy
  modules are imported before a command writes anything, so there the process ends at once;
- during the cleanup after a first Ctrl-C: a second one would cut the cleanup short with a
  traceback. It ends the process at once too.

Anywhere else the first Ctrl-C raises KeyboardInterrupt as usual, so that a command stops its
workers and removes what it half wrote before it exits. Exactly one line is printed: the
command's own (report_interrupt), or else "error: interrupted" when the process exits.
Where a command drives worker processes itself, it replaces this handler while it works, so
that the signal is only noted and raised at points of its own choosing (pretraining's
GracefulStop, a conversion's stop_points).

SIGTERM (kill, a scheduler) stops a command that writes files the way Ctrl-C does, so that it
cleans up too (sigterm_interrupts).

install() is called by the `visim` executable before anything else (visim.cli.entry). Nothing
here imports more than the standard library (and visim.core.pending_files, which imports only
that): it must work before anything heavy is loaded.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from visim.core.exit_codes import EXIT_INTERRUPTED
from visim.core.pending_files import remove_pending

_IMPORT_MACHINERY = "<frozen importlib._bootstrap"
SHOW_CURSOR = "\x1b[?25h"  # a live progress display hides it while it runs


class _State:
    owner: int | None = None  # the process that installed the handler
    seen = False  # a Ctrl-C has been raised as KeyboardInterrupt
    reported = False  # the one line has been printed


def install() -> None:
    """Handle SIGINT in this process as the module docstring says."""
    _State.owner = os.getpid()
    signal.signal(signal.SIGINT, _on_sigint)


def _importing(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith(_IMPORT_MACHINERY):
            return True
        frame = frame.f_back
    return False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    if os.getpid() != _State.owner:
        # A forked worker (a DataLoader's, say) inherits this handler: there Python's own
        # behaviour applies, and the worker's code decides what to do.
        raise KeyboardInterrupt
    if _State.seen or _importing(frame):
        exit_now()
    _State.seen = True
    raise KeyboardInterrupt


def report_interrupt(message: str = "interrupted") -> None:
    """Print the interrupted command's one line (`error: message`) unless one was printed."""
    if _State.reported:
        return
    _State.reported = True
    print(f"error: {message}", file=sys.stderr, flush=True)


def exit_now() -> None:
    """Print the one line if it is still due, remove the temporary files being written
    (visim.core.pending_files), and end the process without any other cleanup."""
    remove_pending()
    report_interrupt()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream.isatty():
                stream.write(SHOW_CURSOR)
            stream.flush()
        except (OSError, ValueError):  # closed or gone: nothing left to flush
            pass
    os._exit(EXIT_INTERRUPTED)


def exiting(code: object) -> None:
    """Called as the process exits with `code`: the one line of an interrupted command whose
    KeyboardInterrupt ended it without a message of its own, and exit code 130 kept."""
    if code != EXIT_INTERRUPTED:
        return
    if _State.seen:
        report_interrupt()
    _forget_interrupted_source_code()


def _forget_interrupted_source_code() -> None:
    """CPython ends a process by SIGINT, whatever exit code it asked for, when the last code
    it ran from source text (exec or eval of a string, as dataclasses and namedtuple build
    their methods) ended in a KeyboardInterrupt, even one caught since. A Ctrl-C that lands
    there turned exit code 130 into death by signal (-2); running a trivial piece of source
    text resets that mark."""
    exec("pass")


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Inside: SIGTERM raises KeyboardInterrupt instead of ending the process mid-write."""
    previous = signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
