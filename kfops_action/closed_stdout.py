"""Ending quietly when the reader of our output goes away (`kfc schema | head -1`).

Python ignores SIGPIPE and raises BrokenPipeError at the next write or flush instead, which
would end in a traceback, and again at interpreter exit when the buffered rest of stdout is
flushed ("Exception ignored ..."). Restoring SIGPIPE's default action would kill the process
in the middle of whatever it was doing; instead the entry points catch the error, point the
standard streams at /dev/null so nothing is flushed into the closed pipe later, and exit
with 141, the status a shell reports for `yes | head -1` (128 + SIGPIPE).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from .errors import ExitCode


def discard_output() -> None:
    """Send what is still buffered, and everything later, to /dev/null. Both streams: with
    `2>&1 | head` stderr is the same closed pipe, and a message about it could not be read."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            try:
                os.dup2(devnull, stream.fileno())
            except (OSError, ValueError, AttributeError):  # replaced stream (tests), or no fd
                pass
    finally:
        os.close(devnull)


def guarded(main: Callable[[], int]) -> int:
    """`main()`'s exit code, and its output flushed, or 141 when stdout was closed early.
    argparse's `--help`, `--version` and usage errors end in SystemExit; its code is returned
    too, after the flush that would otherwise raise at exit."""
    try:
        try:
            code = main()
        except SystemExit as stop:
            if isinstance(stop.code, str):  # sys.exit("message"): Python would print it
                print(stop.code, file=sys.stderr)
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        return code
    except BrokenPipeError:
        discard_output()
        return ExitCode.STDOUT_CLOSED


def write_stdout(text: str) -> int:
    """Print `text` (the whole answer of `--help` or `--version`); 0, or 141 when stdout closed."""
    return guarded(lambda: (sys.stdout.write(text), ExitCode.OK)[1])
