"""One status comment per command invocation: created once, then edited in place.

A PR where every step posts a new comment ("queued", "building", "running", "succeeded") buries the
discussion and spends GitHub's secondary limit on content creation. Here each invocation owns one
comment (more only when the body is over the 65,536-character limit: continuation parts), found
again by a hidden marker:

    <!-- kfops --><!-- kfops:status key=<invocation key> part=1/2 -->

`<!-- kfops -->` first, so that the event filter never answers our own comments. The marker is
*trusted* only in comments authored by the identity the action runs as: anyone can type the same
HTML comment in a PR.

Failure handling, so that the final report appears exactly once:
- a POST that may have been applied (connection reset, 502 after the write) is reconciled: before
  sending it again we look for a part with our marker and adopt it instead of posting a duplicate;
- a part someone deleted (404 on edit) is posted again;
- 422 "body is too long" (GitHub counts differently than we did) re-splits with a lower limit;
- parts no longer needed (the body shrank) are deleted.
Progress edits are throttled (`min_interval`) and skipped when nothing changed; forced updates
(state changes, the final report) are always sent. Every body is scrubbed of secrets before it leaves.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .client import GitHubClient, GitHubError, Reply
from .refs import Identity, Repo
from .render import read_state_marker
from .splitting import GITHUB_LIMIT, split_body

OWN_MARKER = "<!-- kfops -->"  # the same string as kfops_action.chatops.replies.MARKER
_STATUS = re.compile(r"<!-- kfops:status key=(?P<key>[A-Za-z0-9._:/-]+) part=(?P<part>\d+)/(?P<parts>\d+) -->")
_KEY = re.compile(r"^[A-Za-z0-9._:/-]{1,100}$")
_MAX_RESPLITS = 3


def header(key: str, part: int, parts: int) -> str:
    return f"{OWN_MARKER}<!-- kfops:status key={key} part={part}/{parts} -->\n"


def parse_header(body: str) -> tuple[str, int, int] | None:
    match = _STATUS.search((body or "")[:300])
    if not match:
        return None
    return match.group("key"), int(match.group("part")), int(match.group("parts"))


@dataclass(frozen=True)
class StateRecord:
    """Hidden state found in a comment the action wrote."""

    comment_id: int
    created_at: str
    data: dict[str, Any]


def trusted_comments(comments: Iterable[Mapping[str, Any]], identity: Identity) -> list[Mapping[str, Any]]:
    return [c for c in comments if identity.wrote(c)]


def read_states(client: GitHubClient, repo: Repo, issue: int, identity: Identity) -> list[StateRecord]:
    """Every `<!-- kfops:state -->` the action itself left on the PR, oldest first."""
    records = []
    for comment in client.paginate(f"{repo.path}/issues/{issue}/comments"):
        if not identity.wrote(comment):
            continue
        data = read_state_marker(comment.get("body") or "")
        if data is not None:
            records.append(StateRecord(int(comment["id"]), str(comment.get("created_at", "")), data))
    return records


@dataclass(frozen=True)
class StatusRecord:
    """One invocation's status comment as found on the PR: its parts (in order) and the hidden
    state it carries (from whichever part holds it; None when it has none)."""

    key: str
    ids: tuple[int, ...]
    bodies: tuple[str, ...]
    created_at: str
    data: dict[str, Any] | None


def read_status_comments(client: GitHubClient, repo: Repo, issue: int, identity: Identity) -> list[StatusRecord]:
    """Every status comment the action itself wrote on the PR, oldest first, in one listing: the
    state records later commands read, and the parts a later edit needs (no further request)."""
    parts: dict[str, dict[int, Mapping[str, Any]]] = {}
    for comment in client.paginate(f"{repo.path}/issues/{issue}/comments"):
        parsed = parse_header(comment.get("body") or "")
        if parsed is None or not identity.wrote(comment):
            continue
        parts.setdefault(parsed[0], {}).setdefault(parsed[1], comment)
    records = []
    for key, found in parts.items():
        ordered = [found[n] for n in sorted(found)]
        bodies = tuple(str(c.get("body") or "") for c in ordered)
        data = next((d for d in (read_state_marker(b) for b in reversed(bodies)) if d is not None), None)
        records.append(StatusRecord(key, tuple(int(c["id"]) for c in ordered), bodies,
                                    str(ordered[0].get("created_at", "")), data))
    return sorted(records, key=lambda r: (r.created_at, r.ids[0]))


class StatusComment:
    """The comment (and continuation parts) of one command invocation."""

    def __init__(self, client: GitHubClient, repo: Repo, issue: int, key: str, *,
                 identity: Identity | None = None, scrub: Callable[[str], str] | None = None,
                 limit: int = GITHUB_LIMIT, min_interval: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 log: Callable[[str], None] | None = None, ids: Sequence[int] = ()) -> None:
        if not _KEY.match(key):
            raise ValueError(f"status comment key {key!r}: use letters, digits and ._:/- only")
        self.client, self.repo, self.issue, self.key = client, repo, issue, key
        self.identity = identity or Identity()
        self.scrub = scrub or (lambda text: text)
        self.limit = limit
        self.min_interval = min_interval
        self.monotonic = monotonic
        self.log = log or (lambda message: None)
        self.ids: list[int] = list(ids)
        self._sent: list[str] = []           # the text of each part as last sent
        self._last_body: str | None = None
        self._last_time: float | None = None
        self._pending: str | None = None
        self._html_url: str | None = None

    # -- finding an earlier one ----------------------------------------------------------------

    @classmethod
    def resume(cls, client: GitHubClient, repo: Repo, issue: int, key: str, **kw: Any) -> StatusComment:
        """The invocation's comment if the action already wrote one (a re-run of the workflow),
        else a new, not yet posted one. Costs one listing: call it only on re-runs."""
        status = cls(client, repo, issue, key, **kw)
        found = status._find_parts()
        status.ids = [found[n]["id"] for n in sorted(found)]
        status._sent = [found[n].get("body") or "" for n in sorted(found)]
        return status

    def _find_parts(self) -> dict[int, Mapping[str, Any]]:
        found: dict[int, Mapping[str, Any]] = {}
        for comment in self.client.paginate(f"{self.repo.path}/issues/{self.issue}/comments"):
            parsed = parse_header(comment.get("body") or "")
            if parsed and parsed[0] == self.key and self.identity.wrote(comment):
                found.setdefault(parsed[1], comment)
        return found

    def adopt(self, record: StatusRecord) -> None:
        """Take over the parts of an earlier comment with this key, found by a listing made for
        another reason (a re-run of the workflow, or finishing another invocation's report)."""
        if record.key != self.key:
            raise ValueError(f"status comment {record.key} is not {self.key}")
        if not self.ids:
            self.ids, self._sent = list(record.ids), list(record.bodies)

    # -- updating ------------------------------------------------------------------------------

    @property
    def url(self) -> str | None:
        """The first part's address, for links from the job log or the commit status."""
        return self._html_url

    def update(self, body: str, *, force: bool = False) -> bool:
        """Show `body`. `force` for state changes and the final report: sent unless unchanged.
        Other updates (progress while polling) are throttled to one per `min_interval`; a held
        one is sent by the next update or by `flush`. Returns whether anything was sent."""
        body = self.scrub(body)
        if body == self._last_body and self.ids:
            self._pending = None
            return False
        now = self.monotonic()
        if (not force and self._last_time is not None and self.ids
                and now - self._last_time < self.min_interval):
            self._pending = body
            return False
        self._publish(body)
        self._pending = None
        self._last_body = body
        self._last_time = self.monotonic()
        return True

    def flush(self) -> bool:
        """Send a progress update that was held back by the throttle."""
        if self._pending is None:
            return False
        return self.update(self._pending, force=True)

    def _publish(self, body: str) -> None:
        limit = self.limit
        for _ in range(_MAX_RESPLITS + 1):
            reserve = len(header(self.key, 9999, 9999))
            chunks = split_body(body, limit - reserve)
            texts = [header(self.key, i + 1, len(chunks)) + chunk for i, chunk in enumerate(chunks)]
            try:
                self._write(texts)
                return
            except GitHubError as exc:
                if exc.status == 422 and exc.has_error_text("too long"):
                    limit = int(limit * 0.9)
                    self.log(f"GitHub found a part too long; splitting again at {limit} characters")
                    continue
                raise
        raise GitHubError(f"GitHub kept refusing the status comment as too long (last limit {limit})",
                          status=422, fix="report this as a kfops bug, with the job log")

    def _write(self, texts: list[str]) -> None:
        for index, text in enumerate(texts):
            if index < len(self.ids):
                if index < len(self._sent) and self._sent[index] == text:
                    continue
                self._edit(index, text)
            else:
                self._create(index, text)
        for index in range(len(self.ids) - 1, len(texts) - 1, -1):
            self._delete(index)

    def _edit(self, index: int, text: str) -> None:
        comment_id = self.ids[index]
        try:
            data = self.client.patch(f"{self.repo.path}/issues/comments/{comment_id}", {"body": text})
        except GitHubError as exc:
            if exc.status != 404:
                raise
            self.log(f"status comment {comment_id} was deleted; posting it again")
            data = self._post(index, text)
        self._remember(index, data, text)

    def _create(self, index: int, text: str) -> None:
        data = self._post(index, text)
        if (data.get("body") or "") != text:  # adopted from an earlier attempt: bring it up to date
            data = self.client.patch(f"{self.repo.path}/issues/comments/{data['id']}", {"body": text})
        self._remember(index, data, text)

    def _post(self, index: int, text: str) -> dict[str, Any]:
        part = index + 1

        def reconcile() -> Reply | None:
            for comment in self.client.paginate(f"{self.repo.path}/issues/{self.issue}/comments"):
                parsed = parse_header(comment.get("body") or "")
                if (parsed and parsed[0] == self.key and parsed[1] == part
                        and self.identity.wrote(comment) and comment.get("id") not in self.ids):
                    return Reply(201, comment)
            return None

        data = self.client.post(f"{self.repo.path}/issues/{self.issue}/comments", {"body": text},
                                reconcile=reconcile)
        me = Identity.of(data)
        if me is not None and me.login.lower() != self.identity.login.lower():
            self.log(f"the token posts as {me.login}, not {self.identity.login}: trusting {me.login}'s markers")
            self.identity = me
        return data

    def _remember(self, index: int, data: Mapping[str, Any], text: str) -> None:
        if index < len(self.ids):
            self.ids[index] = int(data["id"])
        else:
            self.ids.append(int(data["id"]))
        while len(self._sent) <= index:
            self._sent.append("")
        self._sent[index] = text
        if index == 0 and isinstance(data.get("html_url"), str):
            self._html_url = data["html_url"]

    def _delete(self, index: int) -> None:
        comment_id = self.ids.pop(index)
        if index < len(self._sent):
            self._sent.pop(index)
        try:
            self.client.delete(f"{self.repo.path}/issues/comments/{comment_id}")
        except GitHubError as exc:
            if exc.status != 404:
                raise
