"""Which GitHub events count: newly created comments, on open pull requests, by people.

- Only `issue_comment` with `action: created`. Edited comments are ignored on purpose: acting on
  them would let anyone who can edit an old, already-authorized comment steer the bot (and an edit
  of `/build` to `/deploy` would run a deploy nobody asked for at that time). Deleted ones, too.
- Only pull requests (an `issue_comment` event also fires for plain issues) and only open ones.
- Never comments by bots (`user.type == "Bot"`, or a login ending in `[bot]`: GitHub Apps comment
  as `<app-slug>[bot]`, GITHUB_TOKEN as `github-actions[bot]`), nor the Action's own comments (the
  replies' hidden marker, for when it posts with a personal token). Bots answering bots loop.

A pure function of the event name and payload: no I/O, and no exception on a malformed payload
(a payload we cannot read is ignored, with the reason).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Union

from .replies import MARKER


@dataclass(frozen=True)
class CommentEvent:
    """A comment worth parsing, with the few payload facts the rest of the path needs."""

    repository: str
    number: int
    comment_id: int
    body: str
    user: str
    created_at: str | None = None
    html_url: str | None = None


@dataclass(frozen=True)
class Ignored:
    reason: str


def read_event(event_name: str, payload: Any, *, own_logins: Collection[str] = ()) -> CommentEvent | Ignored:
    """The comment to act on, or why this event is not one."""
    if event_name != "issue_comment":
        return Ignored(f"{event_name or 'an unnamed'} event, not issue_comment")
    if not isinstance(payload, Mapping):
        return Ignored("the event payload is not a JSON object")
    action = payload.get("action")
    if action != "created":
        return Ignored(f"a comment {action or 'event without an action'}, not created: only new comments count")
    issue, comment = _mapping(payload, "issue"), _mapping(payload, "comment")
    repository = (_mapping(payload, "repository") or {}).get("full_name")
    if issue is None or comment is None:
        return Ignored("the payload has no issue or comment")
    if not issue.get("pull_request"):
        return Ignored("a comment on an issue, not on a pull request")
    if issue.get("state") != "open":
        return Ignored(f"the pull request is {issue.get('state') or 'in an unknown state'}, not open")
    user = _mapping(comment, "user") or {}
    login = user.get("login")
    if not isinstance(login, str) or not login:
        return Ignored("the comment has no author")
    if user.get("type") == "Bot" or login.lower().endswith("[bot]"):
        return Ignored(f"a comment by the bot {login}")
    if login.lower() in {o.lower() for o in own_logins}:
        return Ignored(f"a comment by {login}, the account kfops posts as")
    body = comment.get("body")
    if not isinstance(body, str):
        body = ""
    if body.lstrip().startswith(MARKER):
        return Ignored("a comment written by kfops itself")
    number, comment_id = _id(issue.get("number")), _id(comment.get("id"))
    if number is None or comment_id is None or not isinstance(repository, str):
        return Ignored("the payload lacks the pull request number, comment id or repository")
    return CommentEvent(repository, number, comment_id, body, login,
                        _str(comment.get("created_at")), _str(comment.get("html_url")))


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    return value if isinstance(value, Mapping) else None


def _id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


Event = Union[CommentEvent, Ignored]
