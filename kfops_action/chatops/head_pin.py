"""Which commit a command means: the pull request's head when the comment was written.

The job starts a while after the comment (a queue, a busy runner), and the author can push in
between. Pinning the head when the job starts would build, deploy and merge a commit nobody asked
for: `/deploy` at A, a push of B, and the queued deploy takes B's model and merges B. So:

- Same-repository pull requests: GitHub's activity log (GET /activity) records every push to the
  branch with GitHub's own timestamp. The head when the comment was written is the `after` of the
  newest activity strictly before the comment's `created_at` (same-second counts as after: the
  commenter cannot have seen that push). If the PR's head is another commit now, the command is
  refused, naming both commits and who moved the head. Commit dates are never used: the author
  writes them.
- When the log tells nothing (a fork, whose branch lives in another repository; a token or GitHub
  Enterprise version without the API; nothing recorded), the commenter may name the commit:
  `--sha abc1234` must be a prefix of the head. Without it a deploy, which cannot be taken back (a
  release, a merge), is refused asking for it; builds and runs (and dry runs), which change nothing
  that stays, pin the current head and say so in their report.
- `--sha`, when given, is always checked, and the log too when it is usable: both must agree.

`history` and `pin` are pure; `pin_head` gathers the facts through the GitHub port.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import KfopsError
from ..github.render import code
from .command import ParsedCommand
from .deploy_rules import DEPLOY_COMMANDS, short
from .ports import GitHubPort
from .requirements import NotReady, PullState, Ready, Readiness

ACTS_ON_HEAD = frozenset({"build", "run", "build_run", *DEPLOY_COMMANDS})
NO_COMMIT = "0" * 40            # `before` of a branch creation


@dataclass(frozen=True)
class Move:
    """The newest activity on the branch after the comment: where it left the head, who, when."""

    after: str
    actor: str | None
    timestamp: str


@dataclass(frozen=True)
class History:
    """The head when the comment was written, or why it is unknown (`unknown`)."""

    at_comment: str | None
    last_move: Move | None = None
    unknown: str = ""


def _time(text: Any) -> datetime | None:
    """An ISO 8601 time as GitHub writes it (`2025-01-06T09:00:01Z`), None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _sha(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) == 40 else None


def history(activities: Iterable[Mapping[str, Any]], created_at: str | None, branch: str) -> History:
    """The head of `branch` when the comment was written, from its activities newest first.

    Stops at the first activity before the comment (usually the first one read). When the log
    holds only activities after the comment (older ones expired), the `before` of the oldest of
    them is the head at the comment. An entry that cannot be read makes the head unknown."""
    comment_time = _time(created_at)
    if comment_time is None:
        return History(None, unknown="the event does not say when the comment was written")
    newest: Move | None = None
    oldest_before: str | None = None
    for activity in activities:
        moment, after = _time(activity.get("timestamp")), _sha(activity.get("after"))
        if moment is None or after is None:
            return History(None, unknown=f"GitHub's activity log of `{branch}` has an entry kfops cannot read")
        if moment < comment_time:
            return History(after, newest)
        if newest is None:
            actor = activity.get("actor")
            login = actor.get("login") if isinstance(actor, Mapping) else None
            newest = Move(after, login if isinstance(login, str) else None, str(activity["timestamp"]))
        oldest_before = _sha(activity.get("before"))
    if oldest_before is not None and oldest_before != NO_COMMIT:
        return History(oldest_before, newest)
    if newest is None:
        return History(None, unknown=f"GitHub's activity log has nothing on `{branch}`")
    return History(None, newest, f"GitHub's activity log shows no push to `{branch}` before the comment")


def pin(command: ParsedCommand, head: str, found: History) -> Readiness:
    """The commit `command` may act on (the current head), or why it may not run."""
    name = command.name
    if command.sha is not None and not head.startswith(command.sha):
        return NotReady(f"`--sha {command.sha}` is not the pull request's head, which is {short(head)} (`{head}`): "
                        f"review it, then comment `/{name}` again with its SHA")
    if found.at_comment is not None:
        return Ready(head) if found.at_comment == head else NotReady(_moved(name, found.at_comment, head, found))
    if command.sha is not None:
        return Ready(head)
    if name in DEPLOY_COMMANDS and not command.dry_run:
        retry = dataclasses.replace(command, sha=short(head), text="")
        return NotReady(f"kfops cannot tell which commit the pull request was at when you commented "
                        f"({found.unknown}), and a deploy cannot be taken back. If {short(head)} (`{head}`) is the "
                        f"commit you reviewed, comment {code(retry.display())}")
    return Ready(head, (f"kfops could not check that the head did not move after the comment ({found.unknown}): "
                        f"this works on the current head {short(head)}. Add `--sha COMMIT` to the command to name "
                        "the commit you mean.",))


def _moved(name: str, at_comment: str, head: str, found: History) -> str:
    move = found.last_move
    by = ""
    if move is not None and move.after == head:
        by = f", pushed by @{move.actor} at {move.timestamp}" if move.actor else f", pushed at {move.timestamp}"
    return (f"the pull request's head moved after your comment: {short(at_comment)} -> {short(head)}{by}. "
            f"Review the new commits, then comment `/{name}` again to run on {short(head)}")


def read_history(github: GitHubPort, pull: PullState, created_at: str | None,
                 log: Callable[[str], None]) -> History:
    """The facts for `pin`: the activity log of the PR's branch, when it is in this repository."""
    if pull.fork:
        return History(None, unknown="the pull request comes from a fork, whose pushes this repository's "
                                     "activity log does not show")
    if not pull.head_ref:
        return History(None, unknown="GitHub did not say which branch the pull request comes from")
    try:
        return history(github.branch_activity(pull.head_ref), created_at, pull.head_ref)
    except KfopsError as exc:
        log(f"warning: the activity log of {pull.head_ref} could not be read: {exc}")
        return History(None, unknown=f"GitHub's activity log could not be read: {exc.what}")


def pin_head(command: ParsedCommand, pull: PullState, head: str, created_at: str | None, github: GitHubPort,
             log: Callable[[str], None]) -> Readiness:
    """`pin` for the commands that act on the head; the others (status, cancel, help) pass."""
    if command.name not in ACTS_ON_HEAD:
        return Ready(head)
    return pin(command, head, read_history(github, pull, created_at, log))
