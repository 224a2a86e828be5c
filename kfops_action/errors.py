"""One error type that every layer raises, so that the CLI and the Action can report any failure
the same way: what went wrong, where, and how to fix it, with a stable exit code."""

from __future__ import annotations

from dataclasses import dataclass, field

SHOWN_CHARS = 60  # characters of a user's value echoed back in a message


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """A user's value as a message echoes it: printable only, and cut, so that a 4 KiB value (or
    a terminal escape) does not become the message."""
    clean = "".join(ch if ch.isprintable() else "\ufffd" for ch in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "\u2026"


@dataclass
class Problem:
    """One thing wrong, located (file:line:col, a flag, a URL) when we know where."""

    message: str
    where: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass
class KfopsError(Exception):
    """A failure the user can act on.

    `problems` lets validation report every error at once instead of stopping at the first; `fix`
    is the one next step to take. `exit_code` separates user errors (2) from remote failures (1)
    for scripts.
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
