"""What GitHub shows of the deploy locks: one repository label per held lock.

Why labels: `/status` runs in the chat job, which holds no cluster credential, and locks are
repository-wide while the action's own status comments live on one pull request each. A label
is repository-wide, readable with the chat job's token, and visible in the labels page:
`kfops-lock:production` (or `kfops-lock:global` for the freeze) exists while the lock is held, its
description saying who, since when and why. `/lock` and `/unlock` write it right after the
Lease, in the deploy job.

It is a mirror, not the lock: anyone with triage access can edit labels, and a lock taken with
kubectl has none. `/status` says so, and every deploy reads the Lease (sticky_lock.py), which
decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import KfopsError

if TYPE_CHECKING:
    from ..deploy.sticky_lock import StickyLock

PREFIX = "kfops-lock:"
COLOR = "b60205"


def environments(base: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """The configured environments (`deployment.<env>` with a namespace and a service)."""
    from .deploy_rules import environments as configured

    return {env: s for env, s in configured(base).items() if s.get("namespace") and s.get("inference_service")}


def label_name(scope: str) -> str:
    return PREFIX + scope


def description(lock: StickyLock) -> str:
    """`@maria kfops-org/model#7 since 2026-12-06 21:40 UTC: migrating` (GitHub keeps 100 characters)."""
    text = f"@{lock.actor}" + (f" {lock.pr}" if lock.pr else "")
    if lock.since:
        text += f" since {lock.since:%Y-%m-%d %H:%M} UTC"
    text += f": {lock.reason}" if lock.reason else ""
    return text if len(text) <= 100 else text[:99] + "…"


def show(github: Any, lock: StickyLock) -> None:
    """Replace the scope's label with one describing `lock` (labels keep their first description)."""
    name = label_name(lock.scope)
    github.delete_label(name)
    github.ensure_label(name, color=COLOR, description=description(lock))


def clear(github: Any, scope: str) -> None:
    github.delete_label(label_name(scope))


@dataclass(frozen=True)
class Shown:
    scope: str
    text: str


def status_lines(github: Any, base: Mapping[str, Any] | None) -> list[tuple[str, object]]:
    """/status's "Deploy locks" line: the freeze and each configured environment, as the labels
    say, with where the truth is."""
    scopes = ["global", *environments(base)]
    found, note = read(github, scopes)
    if note:
        return [("Deploy locks", note)]
    if not found:
        text = "none shown"
    else:
        text = "; ".join(("freeze" if s.scope == "global" else s.scope) + f": {s.text}" for s in found)
    return [("Deploy locks", text + " (as the kfops-lock:* labels show it; the cluster's Lease decides at "
                                    "deploy time)")]


def read(github: Any, scopes: Iterable[str]) -> tuple[list[Shown], str | None]:
    """The labels present for `scopes`, and a note when GitHub could not be asked."""
    found: list[Shown] = []
    for scope in scopes:
        try:
            label = github.get_label(label_name(scope))
        except KfopsError as exc:
            return found, f"the lock labels could not be read ({exc.what})"
        if label is not None:
            found.append(Shown(scope, str(label.get("description") or "(no description)")))
    return found, None
