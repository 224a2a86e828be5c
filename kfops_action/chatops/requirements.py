"""The state a pull request must be in for a command to run, checked after authorization.

The head SHA is pinned here, once, when the command arrives: everything after (the build, the run,
the report) refers to that commit, and a handler refuses to work on anything else. head_pin.py
checks that it is still the commit the comment saw; the deploys add their own gates (mergeable,
trained on this SHA).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union


@dataclass(frozen=True)
class PullState:
    """The facts of GET /pulls/{number} that the path uses."""

    number: int
    state: str
    head_sha: str | None
    head_ref: str | None
    head_repo: str | None    # None when the fork was deleted
    base_ref: str | None
    base_repo: str | None

    @property
    def fork(self) -> bool:
        """From another repository, or from one that no longer exists (a deleted fork)."""
        return self.head_repo is None or self.head_repo.lower() != (self.base_repo or "").lower()


def pull_state(pull: Mapping[str, Any], number: int) -> PullState:
    """Tolerant of missing fields: what is missing is reported by `check`, not by a KeyError."""
    head, base = _map(pull, "head"), _map(pull, "base")
    return PullState(
        number=number,
        state=str(pull.get("state") or "unknown"),
        head_sha=_text(head, "sha"),
        head_ref=_text(head, "ref"),
        head_repo=_text(_map(head, "repo"), "full_name"),
        base_ref=_text(base, "ref"),
        base_repo=_text(_map(base, "repo"), "full_name"),
    )


def _map(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Ready:
    head_sha: str
    warnings: tuple[str, ...] = ()    # for the command's report (e.g. the pin could not be checked)


@dataclass(frozen=True)
class NotReady:
    problem: str


Readiness = Union[Ready, NotReady]


def check(command: str, pull: PullState) -> Readiness:
    """Every command that runs needs an open PR and a known head commit."""
    if pull.state != "open":
        return NotReady(f"pull request #{pull.number} is {pull.state}, not open")
    if not pull.head_sha:
        return NotReady(f"GitHub did not say which commit pull request #{pull.number} is at")
    return Ready(pull.head_sha)
