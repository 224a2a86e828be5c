"""One error type that every layer raises, so that the CLI and the Action can report any failure
the same way: what went wrong, where, and how to fix it, with a stable exit code."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum

SHOWN_CHARS = 60  # characters of a user's value echoed back in a message


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """A user's value as a message echoes it: printable only, and cut, so that a 4 KiB value (or
    a terminal escape) does not become the message."""
    clean = "".join(ch if ch.isprintable() else "\ufffd" for ch in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "\u2026"


class ExitCode(IntEnum):
    """What `kfc` exits with: the one table scripts rely on (docs/commands.md lists it, and a test
    holds the two together). Distinct codes because a script reacts differently to each: retry
    after an outage (4), follow the run elsewhere after a timeout (3), fix the input (2)."""

    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    TIMEOUT = 3
    UNREACHABLE = 4
    DENIED = 5
    INTERRUPTED = 130
    STDOUT_CLOSED = 141


EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "done: validated, built, the run started (or, with `--wait`, succeeded); `kfc comment`: the "
                 "Action would run the command (or answer it, as for /help)",
    ExitCode.FAILED: "the work ran and failed: the run failed or was canceled, a local run or an image build "
                     "failed; `kfc status`: the run ended without succeeding; `kfc doctor`: something a "
                     "command needs is missing",
    ExitCode.BAD_INPUT: "bad input, nothing started: usage, kfops.yaml, the pipeline code, a `--set` or "
                        "parameter; `kfc comment`: the Action would refuse the comment (not a command, a near "
                        "miss, bad arguments, a `--set` the pipeline refuses)",
    ExitCode.TIMEOUT: "`--wait --timeout` ran out; the run goes on in Kubeflow (`kfc status RUN_ID --wait` "
                      "follows it again)",
    ExitCode.UNREACHABLE: "Kubeflow (or the cluster) is unreachable, refused the credentials, or failed the "
                          "request",
    ExitCode.DENIED: "`kfc comment`: this user may not run the command (the Action would reply with the refusal)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
    ExitCode.STDOUT_CLOSED: "standard output was closed early (piped into `head -1`): kfc stops quietly, "
                            "with the status a shell gives a program ended by SIGPIPE (128 + 13)",
}


def exit_code_of(exc: KfopsError) -> ExitCode:
    """The code `kfc` exits with for an error. The error types keep their own coarse `exit_code`
    (the Action's job only needs red or green); the finer split scripts want is decided here."""
    if isinstance(exc, RunFailed):
        return ExitCode.TIMEOUT if exc.state == "TIMEOUT" else ExitCode.FAILED
    if isinstance(exc, RemoteError) and exc.exit_code == ExitCode.FAILED:
        from .images.errors import ImageBuildError  # a failed build is work that failed, not an outage

        return ExitCode.FAILED if isinstance(exc, ImageBuildError) else ExitCode.UNREACHABLE
    try:
        return ExitCode(exc.exit_code)
    except ValueError:
        return ExitCode.FAILED


_POSITION = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+)(?::(?P<column>\d+))?$")


@dataclass
class Problem:
    """One thing wrong, located (file:line:col, a flag, a URL) when we know where."""

    message: str
    where: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def position(self) -> tuple[str, int, int | None] | None:
        """(file, line, column) when `where` is a place in a file (`kfops.yaml:16:3`), else None:
        what editors and JSON consumers want instead of parsing the text."""
        match = _POSITION.match(self.where or "")
        if match is None:
            return None
        return match["file"], int(match["line"]), int(match["column"]) if match["column"] else None


@dataclass
class KfopsError(Exception):
    """A failure the user can act on.

    `problems` lets validation report every error at once instead of stopping at the first; `fix`
    is the one next step to take. `exit_code` separates user errors (2) from remote failures (1);
    `kfc` refines it with `exit_code_of`.
    """

    what: str
    problems: list[Problem] = field(default_factory=list)
    fix: str | None = None
    exit_code: int = 2

    def __post_init__(self) -> None:
        super().__init__(self.what)

    def __str__(self) -> str:
        lines = [self.what]
        lines += [f"  {p}" for p in self.problems]
        if self.fix:
            lines.append(f"How to fix: {self.fix}")
        return "\n".join(lines)


class ConfigError(KfopsError):
    """kfops.yaml or an override is unreadable or invalid."""


class PipelineError(KfopsError):
    """The pipeline cannot be loaded, compiled or given these parameters."""


class RemoteError(KfopsError):
    """Kubeflow (or another remote service) refused or failed a request."""

    def __init__(self, what: str, problems: list[Problem] | None = None, fix: str | None = None,
                 exit_code: int = 1, status: int | None = None) -> None:
        super().__init__(what, problems or [], fix, exit_code)
        self.status = status


class RunFailed(KfopsError):
    """A pipeline run ended without succeeding (failed, canceled, timed out)."""

    def __init__(self, what: str, state: str, problems: list[Problem] | None = None,
                 fix: str | None = None) -> None:
        super().__init__(what, problems or [], fix, 1)
        self.state = state
