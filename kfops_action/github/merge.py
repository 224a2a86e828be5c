"""Merging and closing a pull request, safely.

- Merge only the commit the command was given: `sha=` makes GitHub refuse (409) when the head
  moved after the comment, and that 409 becomes a message saying what happened and what to do.
- The merge method must be one the repository allows: the configured one if allowed, else the
  first allowed of merge, squash, rebase. When the token cannot see the repository's settings
  (the `allow_*` fields are missing), each method is tried in that order until GitHub accepts one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kfops_action.errors import KfopsError

from .client import GitHubClient, GitHubError, Reply
from .refs import Repo

METHODS = ("merge", "squash", "rebase")
_ALLOW = {"merge": "allow_merge_commit", "squash": "allow_squash_merge", "rebase": "allow_rebase_merge"}


@dataclass(frozen=True)
class Merged:
    sha: str
    method: str


def allowed_methods(repository: Mapping[str, Any]) -> list[str] | None:
    """Methods the repository allows, or None when the settings are not visible to the token."""
    if not any(flag in repository for flag in _ALLOW.values()):
        return None
    return [m for m in METHODS if repository.get(_ALLOW[m])]


def choose_methods(repository: Mapping[str, Any], preferred: str | Sequence[str] | None = None) -> list[str]:
    """The methods to try, in order. Raises KfopsError when the configured one is not allowed."""
    wanted = [preferred] if isinstance(preferred, str) else list(preferred or [])
    for method in wanted:
        if method not in METHODS:
            raise KfopsError(f"unknown merge method {method!r}", fix=f"use one of {', '.join(METHODS)}")
    allowed = allowed_methods(repository)
    if allowed is None:
        return wanted + [m for m in METHODS if m not in wanted]
    if not allowed:
        raise KfopsError("this repository allows no merge method", exit_code=1,
                         fix="enable merge commits, squash or rebase in the repository settings")
    if wanted:
        usable = [m for m in wanted if m in allowed]
        if not usable:
            raise KfopsError(f"merge method {' or '.join(wanted)} is not allowed in this repository",
                             fix=f"configure one it allows: {', '.join(allowed)}")
        return usable
    return allowed[:1]


def merge_pull(client: GitHubClient, repo: Repo, number: int, *, sha: str,
               method: str | Sequence[str] | None = None, title: str | None = None,
               message: str | None = None, repository: Mapping[str, Any] | None = None) -> Merged:
    """Merge PR `number` at exactly `sha`. `repository` (GET /repos/{o}/{r}) is fetched if not given."""
    if repository is None:
        repository = client.get(repo.path)
    methods = choose_methods(repository, method)
    last: GitHubError | None = None
    for candidate in methods:
        body: dict[str, Any] = {"sha": sha, "merge_method": candidate}
        if title:
            body["commit_title"] = title
        if message:
            body["commit_message"] = message
        try:
            data = client.put(f"{repo.path}/pulls/{number}/merge", body,
                              reconcile=lambda: _merged_already(client, repo, number))
            return Merged(str(data.get("sha", "")), candidate)
        except GitHubError as exc:
            if exc.status == 409:
                raise KfopsError(
                    f"Not merged: the head of #{number} moved after the command "
                    f"(the command was for {sha[:12]})", exit_code=1,
                    fix="review the new commits, then comment the command again") from exc
            if exc.status == 405 and exc.has_error_text("not allowed") and len(methods) > 1:
                last = exc
                continue
            if exc.status == 405:
                raise KfopsError(f"Not merged: GitHub says #{number} cannot be merged: {exc.message}",
                                 exit_code=1,
                                 fix="resolve what GitHub reports (conflicts, required reviews or checks)") from exc
            raise
    assert last is not None
    raise KfopsError(f"Not merged: GitHub refused every merge method ({', '.join(methods)}): {last.message}",
                     exit_code=1, fix="set the merge method the repository allows")


def _merged_already(client: GitHubClient, repo: Repo, number: int) -> Reply | None:
    """After an answer lost on the way back: if the first attempt merged, that is the result
    (sending it again would only get 405 "not mergeable")."""
    pull = client.get(f"{repo.path}/pulls/{number}")
    if pull.get("merged"):
        return Reply(200, {"sha": pull.get("merge_commit_sha") or "", "merged": True,
                           "message": "merged by an earlier attempt"})
    return None


def close_pull(client: GitHubClient, repo: Repo, number: int) -> None:
    client.patch(f"{repo.path}/pulls/{number}", {"state": "closed"})
