"""How an image build fails: one error type for both builders, carrying the build's own words.

A failed build is only actionable with the builder's output in front of the reader (the PR
comment or the terminal), so every failure keeps the last lines of the log it came from.
Credentials never reach these messages: callers pass the secrets to `scrub`.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import Problem, RemoteError


class ImageBuildError(RemoteError):
    """An image could not be built, pushed, tagged or its digest read.

    A RemoteError (exit code 1) because the work failed somewhere else (the Docker engine, the
    registry, the cluster); `exit_code=2` is used where the runner itself is unfit (no docker).
    """


def tail(text: str, lines: int) -> str:
    """The last `lines` non-empty lines of a log: where a build says why it stopped."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) if lines > 0 else ""


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every secret by *** (longest first, so a secret containing another is hidden whole)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def indented(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def image_problem(image: str, message: str, log: str | None = None, *, log_title: str = "last lines of the build log") -> Problem:
    """One failed image as a Problem: the cause, then the log tail indented under it."""
    text = message
    if log:
        text += f"\n  {log_title}:\n{indented(log)}"
    return Problem(text, where=f"image {image}")


def log_problem(step: str, log: str) -> Problem:
    """A failure that concerns no single image (login, the docker CLI): the step and its output."""
    return Problem(f"{step} said:\n{indented(log)}" if log else f"{step} printed nothing")
