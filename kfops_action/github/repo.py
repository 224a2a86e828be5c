"""The GitHub side of one repository, as the dispatcher uses it.

`GitHubRepo` is the one object the Action builds (`GitHubRepo.from_env()`): it satisfies the
dispatcher's narrow `GitHubPort` (get_permission, get_pull, branch_activity, is_team_member,
add_reaction, post_comment) and offers the rest (status comments, labels, statuses, deployments,
merge) as thin methods over the modules that implement them. Every body it posts is scrubbed.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from . import actions_commands, check_runs, labels, merge, reactions, statuses
from .client import GitHubClient, GitHubError, Reply, segment
from .refs import Identity, Repo
from .scrub import Scrubber, from_env
from .splitting import GITHUB_LIMIT, split_body
from .status_comment import (
    OWN_MARKER,
    StateRecord,
    StatusComment,
    StatusRecord,
    read_states,
    read_status_comments,
)

TOKEN_INPUT = "github-token"
BOT_LOGIN_INPUT = "bot-login"


def _reply_key(nonce: str) -> str:
    return f"<!-- kfops:reply {nonce} -->"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class GitHubRepo:
    def __init__(self, client: GitHubClient, repo: Repo, *, scrubber: Scrubber | None = None,
                 identity: Identity | None = None, log: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.repo = repo
        self.scrubber = scrubber or Scrubber()
        self.identity = identity or Identity()
        self.log = log or _stderr
        self._repository: dict[str, Any] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, token: str | None = None,
                 scrubber: Scrubber | None = None, log: Callable[[str], None] | None = None,
                 mask: bool = True, **client_options: Any) -> GitHubRepo:
        """From the runner's environment: GITHUB_REPOSITORY, GITHUB_API_URL, the `github-token`
        input (else GITHUB_TOKEN), the `bot-login` input. Every secret in the environment is
        masked (`::add-mask::`, in Actions) and scrubbed from what is posted or logged."""
        env = os.environ if env is None else env
        token = token or actions_commands.get_input(TOKEN_INPUT, env=env) or env.get("GITHUB_TOKEN", "")
        masker = actions_commands.add_mask if mask and actions_commands.in_actions(env) else None
        scrubber = scrubber or from_env(env, extra=[token], mask=masker)
        scrubber.add(token)
        log = log or _stderr
        client = GitHubClient(token, env=env, scrub=scrubber.scrub, log=log, **client_options)
        identity = Identity.from_login(actions_commands.get_input(BOT_LOGIN_INPUT, env=env))
        return cls(client, Repo.from_env(env), scrubber=scrubber, identity=identity, log=log)

    # -- GitHubPort (kfops_action.chatops.ports) -------------------------------------------------

    def get_permission(self, user: str) -> str:
        """The level to compare: `role_name` (admin, maintain, write, triage, read); for a custom
        role, the legacy `permission` field (a safe lower bound); `none` for a user GitHub does
        not know (404)."""
        from ..chatops.authorize import normalize_level

        try:
            data = self.client.get(f"{self.repo.path}/collaborators/{segment(user)}/permission")
        except GitHubError as exc:
            if exc.status == 404:
                return "none"
            raise
        return normalize_level(data.get("role_name"), data.get("permission"))

    def get_permission_fields(self, user: str) -> dict[str, Any]:
        """Both `permission` (legacy) and `role_name`, for custom roles."""
        return dict(self.client.get(f"{self.repo.path}/collaborators/{segment(user)}/permission"))

    def get_pull(self, number: int) -> dict[str, Any]:
        return dict(self.client.get(f"{self.repo.path}/pulls/{number}"))

    def is_team_member(self, org: str, team: str, user: str) -> bool:
        try:
            data = self.client.get(f"/orgs/{segment(org)}/teams/{segment(team)}/memberships/{segment(user)}")
        except GitHubError as exc:
            if exc.status == 404:
                return False
            if exc.status == 403:
                raise GitHubError(f"cannot check whether {user} is in {org}/{team}: GitHub answered 403",
                                  status=403, message=exc.message,
                                  fix="reading org teams needs a token with the read:org scope (a GitHub App "
                                      "with Members: read, or a PAT); GITHUB_TOKEN cannot read them") from None
            raise
        return bool(data) and data.get("state") == "active"

    def add_reaction(self, comment_id: int, content: str) -> None:
        reactions.add_reaction(self.client, self.repo, comment_id, content)

    def post_comment(self, number: int, body: str) -> None:
        """A one-off reply (refusals, /help): scrubbed, marked as ours, split at the limit.

        Each part ends with a hidden random key, so that a retry after a lost answer finds the
        part it already posted instead of posting it twice."""
        body = self.scrubber.scrub(body)
        if not body.lstrip().startswith(OWN_MARKER):
            body = f"{OWN_MARKER}\n{body}"
        room = GITHUB_LIMIT - len(OWN_MARKER) - 1 - len(_reply_key("0" * 16))
        for part in split_body(body, room):
            if not part.startswith(OWN_MARKER):
                part = f"{OWN_MARKER}\n{part}"
            key = _reply_key(secrets.token_hex(8))
            text = part + ("" if part.endswith("\n") else "\n") + key
            self.client.post(f"{self.repo.path}/issues/{number}/comments", {"body": text},
                             reconcile=lambda key=key: self._find_reply(number, key))

    def _find_reply(self, number: int, key: str) -> Reply | None:
        for comment in self.client.paginate(f"{self.repo.path}/issues/{number}/comments"):
            if self.identity.wrote(comment) and (comment.get("body") or "").endswith(key):
                return Reply(201, comment)
        return None

    def get_file_text(self, path: str, ref: str) -> str | None:
        """A file's text on a branch, read through the contents API without checking anything
        out (kfops.yaml on the base branch); None when the file (or the ref) does not exist."""
        where = f"{path} on {ref}"
        try:
            data = self.client.get(f"{self.repo.path}/contents/{quote(path.strip('/'), safe='/')}", {"ref": ref})
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(data, Mapping) or data.get("type") != "file":
            raise GitHubError(f"{where} is not a file", fix=f"make {path} a regular file (not a folder or link)")
        if data.get("encoding") != "base64":  # GitHub sends no content for files over 1 MB
            raise GitHubError(f"{where} is too large to read through GitHub's contents API "
                              f"({data.get('size')} bytes)", fix=f"keep {path} under 1 MB")
        try:
            return base64.b64decode(str(data.get("content") or "")).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise GitHubError(f"{where} is not UTF-8 text", fix=f"save {path} as UTF-8") from None

    # -- status comments and state --------------------------------------------------------------

    def status_comment(self, issue: int, key: str, *, resume: bool = False, **options: Any) -> StatusComment:
        """The status comment of one invocation (key: e.g. the command comment's id). `resume`
        looks for one an earlier attempt of this workflow run wrote (one extra request)."""
        options.setdefault("identity", self.identity)
        options.setdefault("scrub", self.scrubber.scrub)
        options.setdefault("log", self.log)
        if resume:
            return StatusComment.resume(self.client, self.repo, issue, key, **options)
        return StatusComment(self.client, self.repo, issue, key, **options)

    def read_states(self, issue: int) -> list[StateRecord]:
        return read_states(self.client, self.repo, issue, self.identity)

    def status_comments(self, issue: int) -> list[StatusRecord]:
        """The action's own status comments on the PR, with their state (one listing)."""
        return read_status_comments(self.client, self.repo, issue, self.identity)

    def pulls(self, *, state: str = "open", since: str | None = None) -> list[dict[str, Any]]:
        """The repository's pull requests in `state` (open, closed, all), updated at or after
        `since` (ISO 8601) when given, newest first, as GET /issues lists them (number, title,
        user; not their head or base: GET /pulls/{n} has those)."""
        params = {"state": state, **({"since": since} if since else {})}
        return [dict(item) for item in self.client.paginate(f"{self.repo.path}/issues", params)
                if isinstance(item, Mapping) and item.get("pull_request")]

    def get_comment(self, comment_id: int) -> dict[str, Any] | None:
        """One issue comment (body, user, created_at), None when it was deleted: the durable
        queue re-reads a displaced command from its author's comment, never from its record."""
        try:
            return dict(self.client.get(f"{self.repo.path}/issues/comments/{int(comment_id)}"))
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise

    def workflow_run(self, run_id: int) -> dict[str, Any]:
        """GET /actions/runs/{id}: `status` (completed, in_progress, queued, waiting...) and
        `conclusion` (cancelled when GitHub replaced its waiting job). Needs `actions: read`."""
        return dict(self.client.get(f"{self.repo.path}/actions/runs/{int(run_id)}"))

    # -- repository, labels, statuses, deployments, merge ---------------------------------------

    def repository(self) -> dict[str, Any]:
        if self._repository is None:
            self._repository = dict(self.client.get(self.repo.path))
        return self._repository

    def compare(self, base: str, head: str) -> dict[str, Any]:
        """GET /compare/{base}...{head}: `behind_by` counts the commits of `base` that `head`
        lacks (the base branch moved ahead of a pull request). One commit listed at most."""
        basehead = quote(f"{base}...{head}", safe="/")
        return dict(self.client.get(f"{self.repo.path}/compare/{basehead}", {"per_page": 1}))

    def branch_activity(self, branch: str, *, per_page: int = 10) -> Iterator[dict[str, Any]]:
        """Pushes, force pushes, creation... of a branch of this repository, newest first, as
        GitHub recorded them (GET /activity: `before`, `after`, `timestamp`, `actor`). The
        timestamps are GitHub's own, unlike commit dates, which the author writes. Lazy: a caller
        that stops early reads one page; later pages follow the cursor in `Link`."""
        params = {"ref": f"refs/heads/{branch}", "direction": "desc"}
        for item in self.client.paginate(f"{self.repo.path}/activity", params, per_page=per_page, max_pages=10):
            if isinstance(item, Mapping):
                yield dict(item)

    def reviews(self, number: int) -> list[dict[str, Any]]:
        """The pull request's reviews, oldest first (state, user, commit_id)."""
        return [dict(item) for item in self.client.paginate(f"{self.repo.path}/pulls/{number}/reviews")
                if isinstance(item, Mapping)]

    def set_status(self, sha: str, *, context: str, state: str, description: str | None = None,
                   target_url: str | None = None) -> None:
        statuses.set_commit_status(self.client, self.repo, sha, context=context, state=state,
                                   description=self._clean(description), target_url=target_url)

    def create_deployment(self, *, sha: str, environment: str, description: str | None = None,
                          production: bool = False, payload: Mapping[str, Any] | None = None,
                          key: str | None = None) -> int:
        return statuses.create_deployment(self.client, self.repo, sha=sha, environment=environment,
                                          description=self._clean(description), production=production,
                                          payload=payload, key=key)

    def commit_statuses(self, sha: str) -> list[dict[str, Any]]:
        """Every commit status of `sha`, newest first (a context's first one is its current)."""
        return [dict(item) for item in self.client.paginate(f"{self.repo.path}/commits/{sha}/statuses")
                if isinstance(item, Mapping)]

    def latest_check_runs(self, sha: str) -> list[dict[str, Any]]:
        """The latest check run of each name on `sha`."""
        return list(check_runs.list_check_runs(self.client, self.repo, sha))

    def create_check_run(self, **fields: Any) -> int:
        return check_runs.create_check_run(self.client, self.repo, **fields)

    def update_check_run(self, check_run_id: int, **fields: Any) -> None:
        check_runs.update_check_run(self.client, self.repo, check_run_id, **fields)

    def conclude_check_run(self, **fields: Any) -> bool:
        return check_runs.conclude_check_run(self.client, self.repo, **fields)

    def deployments(self, *, sha: str, environment: str) -> list[dict[str, Any]]:
        """The repository's deployments of `sha` to `environment`, newest first."""
        return [dict(item) for item in self.client.paginate(f"{self.repo.path}/deployments",
                                                            {"sha": sha, "environment": environment})
                if isinstance(item, Mapping)]

    def deployment_statuses(self, deployment_id: int) -> list[dict[str, Any]]:
        """A deployment's statuses, newest first."""
        return [dict(item) for item in self.client.paginate(f"{self.repo.path}/deployments/{deployment_id}/statuses")
                if isinstance(item, Mapping)]

    def switch_workflow(self, workflow: str, enabled: bool) -> bool:
        """Switch a workflow of this repository on or off (followup.py); False when refused."""
        from .followup import set_enabled

        return set_enabled(self.client, self.repo, workflow, enabled, self.log)

    def set_deployment_status(self, deployment_id: int, *, state: str, environment_url: str | None = None,
                              log_url: str | None = None, description: str | None = None) -> None:
        statuses.set_deployment_status(self.client, self.repo, deployment_id, state=state,
                                       environment_url=environment_url, log_url=log_url,
                                       description=self._clean(description))

    def merge(self, number: int, *, sha: str, method: str | Sequence[str] | None = None,
              title: str | None = None, message: str | None = None) -> merge.Merged:
        return merge.merge_pull(self.client, self.repo, number, sha=sha, method=method, title=title,
                                message=self._clean(message), repository=self.repository())

    def close(self, number: int) -> None:
        merge.close_pull(self.client, self.repo, number)

    def ensure_label(self, name: str, *, color: str = labels.DEFAULT_COLOR, description: str = "") -> None:
        labels.ensure_label(self.client, self.repo, name, color=color, description=description)

    def get_label(self, name: str) -> dict[str, Any] | None:
        return labels.get_label(self.client, self.repo, name)

    def delete_label(self, name: str) -> bool:
        return labels.delete_label(self.client, self.repo, name)

    def add_labels(self, number: int, names: list[str]) -> list[str]:
        return labels.add_labels(self.client, self.repo, number, names)

    def remove_label(self, number: int, name: str) -> bool:
        return labels.remove_label(self.client, self.repo, number, name)

    def move_exclusive_label(self, name: str, to_issue: int, *, color: str = labels.DEFAULT_COLOR,
                             description: str = "") -> list[int]:
        return labels.move_exclusive_label(self.client, self.repo, name, to_issue, color=color,
                                           description=description)

    def summary(self) -> str:
        """The request count line for the job log."""
        return self.client.summary()

    def _clean(self, text: str | None) -> str | None:
        return None if text is None else self.scrubber.scrub(text)
