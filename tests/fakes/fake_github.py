"""A stateful fake of the part of GitHub's REST API that kfops uses, with fault injection.

It serves real HTTP on 127.0.0.1 (a free port) from a background thread, so the client under
test runs its real `requests` code: keep-alive, timeouts, connection resets. Its answers follow
GitHub's published description (tests run it behind Prism, which checks every request and
response against that description), and its behaviour follows GitHub's documented rules:

- comments: 65,536-character limit (422 "body is too long"), edit, delete (then 404);
- reactions: 201 when added, 200 when the same account already reacted the same way;
- labels: created on demand, issue labels, filtering issues by label;
- pull requests: head SHA, `PUT .../merge` with `sha=` (409 "Head branch was modified" when it
  moved), merge methods the repository allows (405 otherwise), close; reviews; compare of the base
  branch with a pull request's head (`behind_by`, set per pull request); a head in a fork (`fork`);
- the repository's activity log (GET /activity): the creation of each pull request's branch and
  every `push`, with the fake's clock as their time, newest first, cursor-paginated as GitHub does;
- commit statuses, deployments and deployment statuses; collaborator permissions; team
  memberships; the rate-limit headers, counting down from GITHUB_TOKEN's 1,000 an hour;
- check runs: created, updated (a conclusion completes them), listed per commit (`filter=latest`:
  the newest of each name; `check_name`), wrapped in `{total_count, check_runs}`; 403 for a token
  without the `checks` permission (`checks_forbidden`); draft pull requests (`draft`).

Faults (`inject`): 500/502/503 (optionally after applying the write, as GitHub sometimes does),
429 and 403 secondary rate limits with or without `retry-after`, a spent primary limit, a
connection reset (before or after applying), a slow answer. Every request is recorded
(`requests`) so tests count them and read what was sent.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

COMMENT_LIMIT = 65_536
RATE_LIMIT = 1_000
DOCS = "https://docs.github.com/rest"
SECONDARY_MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try "
                     "again. If you reach out to GitHub Support for help, please include the request ID "
                     "0000:0000:0000.")
REACTIONS = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}
ROLE_TO_PERMISSION = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read",
                      "read": "read", "none": "none"}
FAULTS = {"500", "502", "503", "502-after", "503-retry-after", "429", "429-retry-after", "403-secondary",
          "403-secondary-retry-after", "403-primary", "reset", "reset-after", "slow"}

# kfops' user agent and API version are checked: a client that forgets them is a bug.
REQUIRED_HEADERS = ("User-Agent", "X-GitHub-Api-Version")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int | None          # None: the connection was reset
    headers: dict[str, str]     # names lower-cased (Prism forwards them so)
    at: float = field(default_factory=time.monotonic)  # when it arrived (benchmarks time the flow)


@dataclass
class Fault:
    kind: str
    method: str
    path: re.Pattern[str]
    times: int
    seconds: float = 0.0        # retry-after, reset offset, or delay

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and self.path.search(path) is not None


@dataclass
class PullRequest:
    number: int
    title: str
    head_sha: str
    user: str
    head_ref: str = "feature"
    base_ref: str = "main"
    state: str = "open"
    mergeable: bool | None = True
    merged: bool = False
    merge_sha: str | None = None
    merged_by: str | None = None
    body: str | None = None
    labels: list[str] = field(default_factory=list)
    created: str = ""
    updated: str = ""
    closed: str | None = None
    is_pull: bool = True
    behind_by: int = 0          # commits on the base branch the head does not have (compare)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    fork: str | None = None     # "owner/name" of the fork the head is in; None: this repository
    draft: bool = False


class FakeGitHub:
    """One repository's worth of GitHub. Use as a context manager, or start()/stop()."""

    def __init__(self, *, token: str, owner: str = "kfops-org", repo: str = "model",
                 bot_login: str = "github-actions[bot]", bot_type: str = "Bot",
                 comment_limit: int = COMMENT_LIMIT, path_prefix: str = "") -> None:
        self.token = token
        self.path_prefix = path_prefix.rstrip("/")  # GitHub Enterprise Server serves under /api/v3
        self.owner, self.repo = owner, repo
        self.bot_login, self.bot_type = bot_login, bot_type
        self.comment_limit = comment_limit
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.public_url: str | None = None
        self.reset()

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            github = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-github", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self._ids = itertools.count(1001)
            self._clock = datetime(2025, 1, 6, 9, 0, 0, tzinfo=timezone.utc)
            self.users: dict[str, dict[str, Any]] = {}
            self.permissions: dict[str, str] = {}
            self.teams: dict[tuple[str, str], set[str]] = {}
            self.teams_forbidden = False   # GITHUB_TOKEN cannot read org teams: 403
            self.settings: dict[str, Any] = {"allow_merge_commit": True, "allow_squash_merge": True,
                                             "allow_rebase_merge": True, "show_merge_settings": True}
            self.pulls: dict[int, PullRequest] = {}
            self.comments: dict[int, dict[str, Any]] = {}
            self.reactions: dict[int, list[dict[str, Any]]] = {}
            self.labels: dict[str, dict[str, Any]] = {}
            self.statuses: dict[str, list[dict[str, Any]]] = {}
            self.deployments: dict[int, dict[str, Any]] = {}
            self.deployment_statuses: dict[int, list[dict[str, Any]]] = {}
            self.check_runs: dict[int, dict[str, Any]] = {}
            self.checks_forbidden = False  # a token without the `checks` permission: 403
            self.files: dict[tuple[str, str], str] = {}   # (ref, path) -> text
            self.activities: list[dict[str, Any]] = []   # the activity log, oldest first
            self.activity_api = True   # False: GET /activity answers 404 (an older GitHub Enterprise Server)
            self.workflows: dict[str, bool] = {}   # workflow file -> enabled, as switched by the action
            self.workflows_forbidden = False       # a token without `actions: write`: 403
            self.workflow_runs: dict[int, dict[str, Any]] = {}   # run id -> status, conclusion (add_workflow_run)
            self.requests: list[Recorded] = []
            self.faults: list[Fault] = []
            self.rate_remaining = RATE_LIMIT
            self.rate_reset = int(time.time()) + 3600
            self.problems: list[str] = []     # protocol mistakes of the client (missing headers...)
            self._user(self.bot_login, self.bot_type)
            self._user(self.owner, "Organization")

    # -- seeding -------------------------------------------------------------------------------

    def add_pull(self, number: int, *, head_sha: str, title: str = "Improve the model", user: str = "alice",
                 state: str = "open", mergeable: bool | None = True, labels: list[str] | None = None,
                 body: str | None = None, fork: str | None = None, is_pull: bool = True,
                 head_ref: str | None = None) -> PullRequest:
        """A pull request; its branch (`feature`, or `feature-<number>` when another pull request
        has that one) is created in the activity log just before, unless it is in a fork (`fork`:
        "owner/name"), whose pushes this repository's log does not show."""
        with self._lock:
            self._user(user)
            taken = {p.head_ref for p in self.pulls.values() if p.is_pull and not p.fork and p.number != number}
            head_ref = head_ref or ("feature" if "feature" not in taken else f"feature-{number}")
            pull = PullRequest(number, title, head_sha, user, head_ref=head_ref, state=state, mergeable=mergeable,
                               labels=list(labels or []), body=body, fork=fork, is_pull=is_pull)
            self._activity(pull, "0" * 40, head_sha, "branch_creation")
            pull.created = pull.updated = self._now()
            for name in pull.labels:
                self._label(name)
            self.pulls[number] = pull
            return pull

    def add_issue(self, number: int, *, title: str = "An issue", user: str = "alice",
                  labels: list[str] | None = None) -> PullRequest:
        return self.add_pull(number, head_sha="0" * 40, title=title, user=user, labels=labels, is_pull=False)

    def add_workflow_run(self, run_id: int, *, status: str = "in_progress", conclusion: str | None = None) -> None:
        """A workflow run of the kfops workflow, as GET /actions/runs/{id} reports it (the queue
        asks whether a displaced command's run is over)."""
        with self._lock:
            self.workflow_runs[run_id] = {"status": status, "conclusion": conclusion}

    def add_comment(self, issue: int, body: str, *, user: str = "alice", user_type: str = "User") -> int:
        with self._lock:
            self._user(user, user_type)
            return self._create_comment(issue, body, user)["id"]

    def add_file(self, path: str, text: str, *, ref: str = "main") -> None:
        """A file on a branch, as `GET /contents/{path}?ref=` serves it."""
        with self._lock:
            self.files[(ref, path.strip("/"))] = text

    def set_permission(self, login: str, role_name: str) -> None:
        with self._lock:
            self._user(login)
            self.permissions[login.lower()] = role_name

    def add_team_member(self, org: str, team: str, login: str) -> None:
        with self._lock:
            self.teams.setdefault((org.lower(), team.lower()), set()).add(login.lower())

    def push(self, number: int, sha: str, *, force: bool = False) -> None:
        """The PR author pushes: the head moves, and the activity log records it now."""
        with self._lock:
            pull = self.pulls[number]
            self._activity(pull, pull.head_sha, sha, "force_push" if force else "push")
            pull.head_sha = sha

    def _activity(self, pull: PullRequest, before: str, after: str, kind: str) -> None:
        if pull.fork is None and pull.is_pull:
            self._user(pull.user)
            self.activities.append({"id": next(self._ids), "before": before, "after": after,
                                    "ref": f"refs/heads/{pull.head_ref}", "timestamp": self._now(),
                                    "activity_type": kind, "actor": pull.user})

    def add_check_run(self, sha: str, name: str, *, status: str = "completed", conclusion: str | None = "success",
                      app: str = "github-actions") -> int:
        """A check run another app (CI) reported on `sha`; returns its id."""
        with self._lock:
            return self._new_check_run({"name": name, "head_sha": sha, "status": status, "conclusion": conclusion},
                                       app)["id"]

    def add_status(self, sha: str, context: str, state: str = "success", *, creator: str = "ci-bot") -> None:
        """A commit status another tool (CI) set on `sha`."""
        with self._lock:
            self._user(creator, "Bot")
            sid = next(self._ids)
            now = self._now()
            self.statuses.setdefault(sha, []).insert(0, {
                "url": f"{self.repo_api}/statuses/{sha}", "avatar_url": None, "id": sid, "node_id": f"SC_{sid}",
                "state": state, "description": None, "target_url": None, "context": context,
                "created_at": now, "updated_at": now, "creator": self.user_json(creator)})

    def _new_check_run(self, body: dict[str, Any], app: str) -> dict[str, Any]:
        cid = next(self._ids)
        now = self._now()
        status = body.get("status") or "queued"
        if body.get("conclusion") is not None:
            status = "completed"
        run = {"id": cid, "name": body["name"], "head_sha": body["head_sha"], "status": status,
               "conclusion": body.get("conclusion"), "external_id": body.get("external_id") or "",
               "details_url": body.get("details_url"), "started_at": body.get("started_at") or now,
               "completed_at": (body.get("completed_at") or now) if status == "completed" else None,
               "output": {"title": None, "summary": None, "text": None, **(body.get("output") or {})},
               "_app": app}
        self.check_runs[cid] = run
        return run

    def check_run_json(self, run: dict[str, Any]) -> dict[str, Any]:
        cid, app = run["id"], run["_app"]
        url = f"{self.repo_api}/check-runs/{cid}"
        output = {k: run["output"].get(k) for k in ("title", "summary", "text")}
        output.update(annotations_count=0, annotations_url=f"{url}/annotations")
        return {"id": cid, "node_id": f"CR_{cid}", "head_sha": run["head_sha"], "name": run["name"], "url": url,
                "html_url": f"{self.web}/{self.owner}/{self.repo}/runs/{cid}", "details_url": run["details_url"],
                "status": run["status"], "conclusion": run["conclusion"], "started_at": run["started_at"],
                "completed_at": run["completed_at"], "external_id": run["external_id"],
                "check_suite": {"id": 5000000 + cid}, "output": output, "pull_requests": [],
                "app": {"id": 15368, "node_id": "MDM6QXBwMTUzNjg=", "slug": app, "owner": self.user_json("github"),
                        "name": "GitHub Actions", "description": "Automate your workflow from idea to production",
                        "external_url": "https://help.github.com/en/actions", "html_url": f"{self.web}/apps/{app}",
                        "created_at": "2018-07-30T09:30:17Z", "updated_at": "2019-12-10T19:04:12Z",
                        "permissions": {"checks": "write", "metadata": "read"}, "events": ["check_run"]}}

    def add_review(self, number: int, user: str, state: str = "APPROVED", *, commit_id: str | None = None) -> None:
        """A review of the pull request (APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED), of
        `commit_id` (default: the current head)."""
        with self._lock:
            self._user(user)
            pull = self.pulls[number]
            rid = next(self._ids)
            pull.reviews.append({"id": rid, "user": user, "state": state,
                                 "commit_id": commit_id or pull.head_sha, "submitted_at": self._now()})

    def delete_comment(self, comment_id: int) -> None:
        with self._lock:
            self.comments.pop(comment_id, None)

    def inject(self, method: str, path: str, kind: str, *, times: int = 1, seconds: float = 0.0) -> None:
        """Fail the next `times` requests `method path-regex` with `kind` (see FAULTS)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(sorted(FAULTS))}")
        with self._lock:
            self.faults.append(Fault(kind, method.upper(), re.compile(path), times, seconds))

    # -- reading state (tests) -----------------------------------------------------------------

    def comments_on(self, issue: int) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(c) for c in sorted(self.comments.values(), key=lambda c: c["id"])
                    if c["_issue"] == issue]

    def bodies(self, issue: int) -> list[str]:
        return [c["body"] for c in self.comments_on(issue)]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return len([r for r in self.requests if (method is None or r.method == method)
                    and (path is None or re.search(path, r.path))])

    # -- helpers -------------------------------------------------------------------------------

    def _now(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _user(self, login: str, kind: str = "User") -> dict[str, Any]:
        key = login.lower()
        if key not in self.users:
            uid = 41898282 if login == "github-actions[bot]" else next(self._ids)
            self.users[key] = {"login": login, "id": uid, "type": kind}
        return self.users[key]

    def user_json(self, login: str) -> dict[str, Any]:
        user = self._user(login)
        base = f"{self.api}/users/{quote(user['login'])}"
        return {
            "login": user["login"], "id": user["id"], "node_id": f"U_{user['id']}",
            "avatar_url": f"{self.web}/avatars/{user['id']}", "gravatar_id": "",
            "url": base, "html_url": f"{self.web}/{quote(user['login'])}",
            "followers_url": f"{base}/followers", "following_url": f"{base}/following{{/other_user}}",
            "gists_url": f"{base}/gists{{/gist_id}}", "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/subscriptions", "organizations_url": f"{base}/orgs",
            "repos_url": f"{base}/repos", "events_url": f"{base}/events{{/privacy}}",
            "received_events_url": f"{base}/received_events", "type": user["type"], "site_admin": False,
        }

    @property
    def api(self) -> str:
        """The base URL written into answers (links, `Link` headers): `public_url` when a proxy
        (Prism) stands in front, so that followed links go through it too."""
        if self.public_url:
            return self.public_url
        return (self.url if self._server is not None else "http://127.0.0.1") + self.path_prefix

    @property
    def web(self) -> str:
        return f"{self.api}/web"

    @property
    def repo_api(self) -> str:
        return f"{self.api}/repos/{self.owner}/{self.repo}"

    def repository_json(self, full: bool = True) -> dict[str, Any]:
        base = self.repo_api
        templates = {
            "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}", "contributors_url": "/contributors",
            "deployments_url": "/deployments", "downloads_url": "/downloads", "events_url": "/events",
            "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}", "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}", "hooks_url": "/hooks", "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}", "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}", "languages_url": "/languages",
            "merges_url": "/merges", "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}", "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}", "stargazers_url": "/stargazers", "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers", "subscription_url": "/subscription", "tags_url": "/tags",
            "teams_url": "/teams", "trees_url": "/git/trees{/sha}",
        }
        html = f"{self.web}/{self.owner}/{self.repo}"
        data: dict[str, Any] = {key: base + suffix for key, suffix in templates.items()}
        data.update({
            "id": 7000001, "node_id": "R_7000001", "name": self.repo, "full_name": f"{self.owner}/{self.repo}",
            "owner": self.user_json(self.owner), "private": True, "html_url": html, "description": None,
            "fork": False, "url": base, "clone_url": f"{html}.git", "git_url": f"git://127.0.0.1/{self.owner}/{self.repo}.git",
            "ssh_url": f"git@127.0.0.1:{self.owner}/{self.repo}.git", "svn_url": html, "mirror_url": None,
            "homepage": None, "language": "Python", "forks": 0, "forks_count": 0, "stargazers_count": 0,
            "watchers": 0, "watchers_count": 0, "size": 100, "default_branch": "main", "open_issues": 0,
            "open_issues_count": 0, "has_issues": True, "has_projects": False, "has_wiki": False,
            "has_pages": False, "has_downloads": True, "has_discussions": False, "archived": False,
            "disabled": False, "license": None, "pushed_at": "2025-01-01T00:00:00Z",
            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
        })
        if full:
            data.update({"network_count": 0, "subscribers_count": 0})
            if self.settings.get("show_merge_settings", True):
                for key in ("allow_merge_commit", "allow_squash_merge", "allow_rebase_merge"):
                    data[key] = bool(self.settings[key])
        return data

    def _label(self, name: str, color: str = "ededed", description: str | None = None) -> dict[str, Any]:
        key = name.lower()
        if key not in self.labels:
            lid = next(self._ids)
            self.labels[key] = {"id": lid, "node_id": f"LA_{lid}", "url": f"{self.repo_api}/labels/{quote(name)}",
                                "name": name, "color": color, "default": False, "description": description}
        return self.labels[key]

    def _create_comment(self, issue: int, body: str, login: str) -> dict[str, Any]:
        cid = next(self._ids)
        now = self._now()
        comment = {"id": cid, "_issue": issue, "_login": login, "body": body, "created_at": now, "updated_at": now}
        self.comments[cid] = comment
        return self.comment_json(comment)

    def comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
        cid = comment["id"]
        return {
            "id": cid, "node_id": f"IC_{cid}", "url": f"{self.repo_api}/issues/comments/{cid}",
            "html_url": f"{self.web}/{self.owner}/{self.repo}/pull/{comment['_issue']}#issuecomment-{cid}",
            "issue_url": f"{self.repo_api}/issues/{comment['_issue']}", "body": comment["body"],
            "user": self.user_json(comment["_login"]), "created_at": comment["created_at"],
            "updated_at": comment["updated_at"],
            "author_association": "NONE" if comment["_login"] == self.bot_login else "MEMBER",
        }

    def pull_json(self, pull: PullRequest) -> dict[str, Any]:
        n = pull.number
        base = f"{self.repo_api}/pulls/{n}"
        html = f"{self.web}/{self.owner}/{self.repo}/pull/{n}"
        repo = self.repository_json(full=False)
        link = lambda href: {"href": href}  # noqa: E731
        return {
            "url": base, "id": 9000000 + n, "node_id": f"PR_{n}", "html_url": html, "diff_url": html + ".diff",
            "patch_url": html + ".patch", "issue_url": f"{self.repo_api}/issues/{n}", "number": n,
            "state": pull.state, "locked": False, "title": pull.title, "user": self.user_json(pull.user),
            "body": pull.body, "labels": [self._label(name) for name in pull.labels], "milestone": None,
            "created_at": pull.created, "updated_at": pull.updated, "closed_at": pull.closed,
            "merged_at": pull.closed if pull.merged else None, "merge_commit_sha": pull.merge_sha,
            "assignee": None, "commits_url": base + "/commits", "review_comments_url": base + "/comments",
            "review_comment_url": f"{self.repo_api}/pulls/comments{{/number}}",
            "comments_url": f"{self.repo_api}/issues/{n}/comments",
            "statuses_url": f"{self.repo_api}/statuses/{pull.head_sha}",
            "head": self._head_json(pull, repo),
            "base": {"label": f"{self.owner}:{pull.base_ref}", "ref": pull.base_ref, "sha": "b" * 40,
                     "user": self.user_json(self.owner), "repo": repo},
            "_links": {"self": link(base), "html": link(html), "issue": link(f"{self.repo_api}/issues/{n}"),
                       "comments": link(f"{self.repo_api}/issues/{n}/comments"),
                       "review_comments": link(base + "/comments"),
                       "review_comment": link(f"{self.repo_api}/pulls/comments{{/number}}"),
                       "commits": link(base + "/commits"), "statuses": link(f"{self.repo_api}/statuses/{pull.head_sha}")},
            "author_association": "MEMBER", "auto_merge": None, "draft": pull.draft, "merged": pull.merged,
            "mergeable": pull.mergeable, "rebaseable": pull.mergeable,
            "mergeable_state": "clean" if pull.mergeable else ("unknown" if pull.mergeable is None else "dirty"),
            "merged_by": self.user_json(pull.merged_by) if pull.merged_by else None, "comments": 0,
            "review_comments": 0, "maintainer_can_modify": False, "commits": 1, "additions": 1,
            "deletions": 0, "changed_files": 1,
        }

    def _head_json(self, pull: PullRequest, repo: dict[str, Any]) -> dict[str, Any]:
        owner = self.owner
        if pull.fork is not None:
            owner, name = pull.fork.split("/", 1)
            self._user(owner)
            repo = {**repo, "id": repo["id"] + 1, "node_id": f"{repo['node_id']}F", "name": name,
                    "full_name": pull.fork, "owner": self.user_json(owner), "fork": True}
        return {"label": f"{owner}:{pull.head_ref}", "ref": pull.head_ref, "sha": pull.head_sha,
                "user": self.user_json(owner), "repo": repo}

    def activity_json(self, activity: dict[str, Any]) -> dict[str, Any]:
        return {**activity, "node_id": f"AC_{activity['id']}", "actor": self.user_json(activity["actor"])}

    def commit_json(self, sha: str, message: str = "a commit") -> dict[str, Any]:
        url = f"{self.repo_api}/commits/{sha}"
        person = {"name": "kfops-test", "email": "test@kfops.invalid", "date": "2025-01-01T00:00:00Z"}
        return {"url": url, "sha": sha, "node_id": f"C_{sha[:12]}", "html_url": f"{self.web}/{self.owner}/{self.repo}/commit/{sha}",
                "comments_url": url + "/comments", "author": None, "committer": None, "parents": [],
                "commit": {"url": f"{self.repo_api}/git/commits/{sha}", "author": person, "committer": person,
                           "message": message, "comment_count": 0,
                           "tree": {"sha": "e" * 40, "url": f"{self.repo_api}/git/trees/{'e' * 40}"},
                           "verification": {"verified": False, "reason": "unsigned", "payload": None,
                                            "signature": None, "verified_at": None}}}

    def review_json(self, pull: PullRequest, review: dict[str, Any]) -> dict[str, Any]:
        html = f"{self.web}/{self.owner}/{self.repo}/pull/{pull.number}#pullrequestreview-{review['id']}"
        return {"id": review["id"], "node_id": f"PRR_{review['id']}", "user": self.user_json(review["user"]),
                "body": "", "state": review["state"], "html_url": html,
                "pull_request_url": f"{self.repo_api}/pulls/{pull.number}",
                "_links": {"html": {"href": html}, "pull_request": {"href": f"{self.repo_api}/pulls/{pull.number}"}},
                "submitted_at": review["submitted_at"], "commit_id": review["commit_id"],
                "author_association": "MEMBER"}

    def issue_json(self, pull: PullRequest) -> dict[str, Any]:
        n = pull.number
        data = {
            "id": 8000000 + n, "node_id": f"I_{n}", "url": f"{self.repo_api}/issues/{n}",
            "repository_url": self.repo_api, "labels_url": f"{self.repo_api}/issues/{n}/labels{{/name}}",
            "comments_url": f"{self.repo_api}/issues/{n}/comments", "events_url": f"{self.repo_api}/issues/{n}/events",
            "html_url": f"{self.web}/{self.owner}/{self.repo}/{'pull' if pull.is_pull else 'issues'}/{n}",
            "number": n, "state": pull.state, "title": pull.title, "body": pull.body,
            "user": self.user_json(pull.user), "labels": [self._label(name) for name in pull.labels],
            "assignee": None, "milestone": None, "locked": False, "comments": 0, "closed_at": pull.closed,
            "created_at": pull.created, "updated_at": pull.updated, "author_association": "MEMBER",
        }
        if pull.is_pull:
            data["pull_request"] = {"url": f"{self.repo_api}/pulls/{n}", "html_url": data["html_url"],
                                    "diff_url": data["html_url"] + ".diff", "patch_url": data["html_url"] + ".patch",
                                    "merged_at": pull.closed if pull.merged else None}
        return data


# -- HTTP ---------------------------------------------------------------------------------------


class _Reply(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, message: str, errors: list[Any] | None = None, headers: dict[str, str] | None = None) -> _Reply:
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
    if errors:
        body["errors"] = errors
    if status in (401, 403, 404):
        body["status"] = str(status)
    return _Reply(status, body, headers)


class _Handler(BaseHTTPRequestHandler):
    github: FakeGitHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        gh = self.github
        parts = urlsplit(self.path)
        path = parts.path
        if gh.path_prefix:
            if not path.startswith(gh.path_prefix + "/"):
                self._send(_error(404, "Not Found"))
                return
            path = path[len(gh.path_prefix):]
        query = parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "<invalid json>"
        record = Recorded(method, path, query, body, None, {k.lower(): v for k, v in self.headers.items()})
        with gh._lock:
            gh.requests.append(record)
            for header in REQUIRED_HEADERS:
                if not self.headers.get(header):
                    gh.problems.append(f"{method} {path}: no {header} header")
            fault = next((f for f in gh.faults if f.matches(method, path)), None)
            if fault is not None:
                fault.times -= 1
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "reset":
            self._reset()
            return
        applied_then: str | None = None
        if fault is not None and fault.kind in ("502-after", "reset-after"):
            applied_then, fault = fault.kind, None
        try:
            if fault is not None:
                raise self._fault(fault)
            self._authenticate()
            with gh._lock:
                reply = self._route(method, path, query, body)
        except _Reply as exc:
            reply = exc
        if applied_then == "reset-after":
            self._reset()
            return
        if applied_then == "502-after":
            reply = _error(502, "Server Error")
        record.status = reply.status
        self._send(reply)

    def _fault(self, fault: Fault) -> _Reply:
        kind = fault.kind
        if kind in ("500", "502", "503"):
            return _error(int(kind), {"500": "Server Error", "502": "Server Error",
                                      "503": "Service Unavailable"}[kind])
        if kind == "503-retry-after":
            return _error(503, "Service Unavailable", headers={"retry-after": str(int(fault.seconds))})
        if kind == "429":
            return _error(429, SECONDARY_MESSAGE)
        if kind == "429-retry-after":
            return _error(429, SECONDARY_MESSAGE, headers={"retry-after": str(int(fault.seconds))})
        if kind == "403-secondary":
            return _error(403, SECONDARY_MESSAGE)
        if kind == "403-secondary-retry-after":
            return _error(403, SECONDARY_MESSAGE, headers={"retry-after": str(int(fault.seconds))})
        if kind == "403-primary":
            reset = int(time.time() + fault.seconds)
            return _error(403, "API rate limit exceeded for installation ID 1.",
                          headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
        raise AssertionError(kind)

    def _reset(self) -> None:
        """Close the connection with RST and no answer, as a dropped proxy connection looks."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    def _authenticate(self) -> None:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or token != self.github.token:
            raise _error(401, "Bad credentials")

    def _send(self, reply: _Reply) -> None:
        gh = self.github
        data = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        with gh._lock:
            gh.rate_remaining = max(0, gh.rate_remaining - 1)
            remaining, reset = gh.rate_remaining, gh.rate_reset
        self.send_response(reply.status)
        headers = {
            "x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(reset), "x-ratelimit-used": str(RATE_LIMIT - remaining),
            "x-ratelimit-resource": "core", "x-github-api-version-selected": "2022-11-28",
            "x-github-request-id": f"FAKE:{len(gh.requests)}",
        }
        headers.update(reply.headers)
        for name, value in headers.items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    # -- routes ------------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> _Reply:
        gh = self.github
        if path == "/rate_limit" and method == "GET":
            core = {"limit": RATE_LIMIT, "remaining": gh.rate_remaining, "reset": gh.rate_reset,
                    "used": RATE_LIMIT - gh.rate_remaining}
            search = {"limit": 30, "remaining": 30, "reset": gh.rate_reset, "used": 0}
            return _Reply(200, {"resources": {"core": core, "search": search}, "rate": core})
        match = re.fullmatch(r"/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)", path)
        if match and method == "GET":
            org, team, user = (unquote(g).lower() for g in match.groups())
            if gh.teams_forbidden:
                raise _error(403, "Resource not accessible by integration")
            if user not in gh.teams.get((org, team), set()):
                raise _error(404, "Not Found")
            return _Reply(200, {"url": f"{gh.api}{path}", "role": "member", "state": "active"})
        prefix = f"/repos/{gh.owner}/{gh.repo}"
        if not path.startswith(prefix):
            raise _error(404, "Not Found")
        rest = path[len(prefix):]
        for pattern, handler_name in _ROUTES:
            found = re.fullmatch(pattern, rest)
            if found and hasattr(self, f"_{handler_name}_{method.lower()}"):
                return getattr(self, f"_{handler_name}_{method.lower()}")(*[unquote(g) for g in found.groups()],
                                                                          query=query, body=body)
        raise _error(404, "Not Found")

    def _contents_get(self, path: str, query: dict[str, list[str]], **_: Any) -> _Reply:
        gh = self.github
        ref = (query.get("ref") or ["main"])[0]
        text = gh.files.get((ref, path.strip("/")))
        if text is None:
            raise _error(404, "Not Found")
        data = text.encode("utf-8")
        encoded = base64.b64encode(data).decode("ascii")
        content = "\n".join(encoded[i:i + 60] for i in range(0, len(encoded), 60)) + "\n"  # as GitHub wraps it
        sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        url = f"{gh.repo_api}/contents/{quote(path)}?ref={quote(ref)}"
        html = f"{gh.web}/{gh.owner}/{gh.repo}/blob/{quote(ref)}/{quote(path)}"
        git = f"{gh.repo_api}/git/blobs/{sha}"
        return _Reply(200, {
            "type": "file", "encoding": "base64", "size": len(data), "name": path.rsplit("/", 1)[-1],
            "path": path, "content": content, "sha": sha, "url": url, "git_url": git, "html_url": html,
            "download_url": f"{gh.web}/raw/{gh.owner}/{gh.repo}/{quote(ref)}/{quote(path)}",
            "_links": {"git": git, "self": url, "html": html}})

    def _caller(self) -> str:
        return self.github.bot_login

    def _repo_get(self, **_: Any) -> _Reply:
        return _Reply(200, self.github.repository_json())

    def _permission_get(self, username: str, **_: Any) -> _Reply:
        gh = self.github
        role = gh.permissions.get(username.lower())
        if role is None:
            if username.lower() not in gh.users:
                raise _error(404, "Not Found")
            role = "read"  # public repository: anyone reads
        user = gh.user_json(username)
        user.update({"role_name": role, "permissions": {
            "admin": role == "admin", "maintain": role in ("admin", "maintain"),
            "push": role in ("admin", "maintain", "write"), "triage": role != "read" and role != "none",
            "pull": role != "none"}})
        return _Reply(200, {"permission": ROLE_TO_PERMISSION.get(role, "read"), "role_name": role, "user": user})

    def _pull(self, number: str) -> PullRequest:
        pull = self.github.pulls.get(int(number))
        if pull is None or not pull.is_pull:
            raise _error(404, "Not Found")
        return pull

    def _issue(self, number: str) -> PullRequest:
        pull = self.github.pulls.get(int(number))
        if pull is None:
            raise _error(404, "Not Found")
        return pull

    def _pull_get(self, number: str, **_: Any) -> _Reply:
        return _Reply(200, self.github.pull_json(self._pull(number)))

    def _pull_patch(self, number: str, body: Any, **_: Any) -> _Reply:
        gh = self.github
        pull = self._pull(number)
        body = body if isinstance(body, dict) else {}
        state = body.get("state")
        if state is not None:
            if state not in ("open", "closed"):
                raise _error(422, "Validation Failed", [{"resource": "PullRequest", "field": "state", "code": "invalid"}])
            pull.state = state
            pull.closed = gh._now() if state == "closed" else None
        if "title" in body:
            pull.title = str(body["title"])
        pull.updated = gh._now()
        return _Reply(200, gh.pull_json(pull))

    def _merge_put(self, number: str, body: Any, **_: Any) -> _Reply:
        gh = self.github
        pull = self._pull(number)
        body = body if isinstance(body, dict) else {}
        method = body.get("merge_method", "merge")
        if pull.merged:
            raise _error(405, "Pull Request is not mergeable")
        if body.get("sha") is not None and body["sha"] != pull.head_sha:
            raise _Reply(409, {"message": "Head branch was modified. Review and try the merge again.",
                               "documentation_url": DOCS})
        allowed = {"merge": "allow_merge_commit", "squash": "allow_squash_merge", "rebase": "allow_rebase_merge"}
        if not gh.settings.get(allowed.get(method, ""), False):
            what = {"merge": "Merge commits", "squash": "Squash merges", "rebase": "Rebase merges"}.get(method, method)
            raise _error(405, f"{what} are not allowed on this repository.")
        if pull.state != "open" or not pull.mergeable:
            raise _error(405, "Pull Request is not mergeable")
        pull.merged, pull.state, pull.closed = True, "closed", gh._now()
        pull.merged_by = self._caller()
        pull.merge_sha = f"{next(gh._ids):040x}"
        return _Reply(200, {"sha": pull.merge_sha, "merged": True, "message": "Pull Request successfully merged"})

    def _reviews_get(self, number: str, query: dict[str, list[str]], **_: Any) -> _Reply:
        pull = self._pull(number)
        return self._page([self.github.review_json(pull, r) for r in pull.reviews], query)

    def _workflow_switch_put(self, workflow: str, action: str, **_: Any) -> _Reply:
        """PUT .../actions/workflows/{file}/enable|disable: 204, no body (403 without `actions: write`)."""
        gh = self.github
        if gh.workflows_forbidden:
            raise _error(403, "Resource not accessible by integration")
        with gh._lock:
            gh.workflows[workflow] = action == "enable"
        return _Reply(204, None)

    def _workflow_run_get(self, run_id: str, **_: Any) -> _Reply:
        """GET .../actions/runs/{id}: the fields GitHub's workflow-run schema requires."""
        gh = self.github
        run = gh.workflow_runs.get(int(run_id))
        if run is None:
            raise _error(404, "Not Found")
        url = f"{gh.repo_api}/actions/runs/{run_id}"
        repo = gh.repository_json(full=False)
        return _Reply(200, {
            "id": int(run_id), "node_id": f"WFR_{run_id}", "name": "kfops", "head_branch": "main",
            "head_sha": "0" * 40, "path": ".github/workflows/kfops.yml", "display_title": "kfops",
            "run_number": int(run_id) % 1000, "event": "issue_comment", "status": run["status"],
            "conclusion": run["conclusion"], "workflow_id": 161335, "url": url,
            "html_url": f"{gh.web}/{gh.owner}/{gh.repo}/actions/runs/{run_id}", "pull_requests": [],
            "created_at": "2025-01-06T09:00:00Z", "updated_at": gh._now(), "head_commit": None,
            "repository": repo, "head_repository": repo, "jobs_url": f"{url}/jobs", "logs_url": f"{url}/logs",
            "check_suite_url": f"{gh.repo_api}/check-suites/{run_id}", "cancel_url": f"{url}/cancel",
            "rerun_url": f"{url}/rerun", "artifacts_url": f"{url}/artifacts",
            "workflow_url": f"{gh.repo_api}/actions/workflows/161335"})

    def _activity_get(self, query: dict[str, list[str]], **_: Any) -> _Reply:
        """Newest first unless `direction=asc`; `ref` as `refs/heads/X` or `X`; pages follow a
        cursor (`after=`) in `Link`, as GitHub's do (this list has no `page`)."""
        gh = self.github
        if not gh.activity_api:
            raise _error(404, "Not Found")
        ref = (query.get("ref") or [None])[0]
        kind = (query.get("activity_type") or [None])[0]
        if ref is not None and not ref.startswith("refs/"):
            ref = f"refs/heads/{ref}"
        items = [a for a in gh.activities if (ref is None or a["ref"] == ref)
                 and (kind is None or a["activity_type"] == kind)]
        if (query.get("direction") or ["desc"])[0] != "asc":
            items.reverse()
        per_page = max(1, min(100, int((query.get("per_page") or ["30"])[0])))
        cursor = (query.get("after") or [None])[0]
        start = int(base64.urlsafe_b64decode(cursor).decode()) if cursor else 0
        headers = {}
        if start + per_page < len(items):
            params = {k: v[0] for k, v in query.items() if k != "after"}
            params["after"] = base64.urlsafe_b64encode(str(start + per_page).encode()).decode()
            link = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
            headers["Link"] = f'<{gh.repo_api}/activity?{link}>; rel="next"'
        return _Reply(200, [gh.activity_json(a) for a in items[start:start + per_page]], headers)

    def _compare_get(self, basehead: str, query: dict[str, list[str]], **_: Any) -> _Reply:
        """Only what kfops asks: `<base branch>...<pull request head sha>`."""
        gh = self.github
        base, sep, head = basehead.partition("...")
        pull = next((p for p in gh.pulls.values() if p.is_pull and p.head_sha == head), None)
        if not sep or pull is None or base != pull.base_ref:
            raise _error(404, "Not Found")
        behind, ahead = pull.behind_by, 1
        status = "diverged" if behind else "ahead"
        url = f"{gh.repo_api}/compare/{quote(basehead)}"
        html = f"{gh.web}/{gh.owner}/{gh.repo}/compare/{quote(basehead)}"
        base_commit = gh.commit_json("b" * 40, "the base branch")
        return _Reply(200, {"url": url, "html_url": html, "permalink_url": html, "diff_url": html + ".diff",
                            "patch_url": html + ".patch", "base_commit": base_commit,
                            "merge_base_commit": gh.commit_json("a" * 40, "the merge base"), "status": status,
                            "ahead_by": ahead, "behind_by": behind, "total_commits": ahead,
                            "commits": [gh.commit_json(head, "the pull request head")], "files": []})

    def _issues_get(self, query: dict[str, list[str]], **_: Any) -> _Reply:
        gh = self.github
        state = (query.get("state") or ["open"])[0]
        wanted = [w.strip().lower() for w in (query.get("labels") or [""])[0].split(",") if w.strip()]
        items = [p for p in sorted(gh.pulls.values(), key=lambda p: -p.number)
                 if (state == "all" or p.state == state)
                 and all(w in [name.lower() for name in p.labels] for w in wanted)]
        return self._page([gh.issue_json(p) for p in items], query)

    def _comments_get(self, number: str, query: dict[str, list[str]], **_: Any) -> _Reply:
        gh = self.github
        self._issue(number)
        since = (query.get("since") or [None])[0]
        items = [gh.comment_json(c) for c in sorted(gh.comments.values(), key=lambda c: c["id"])
                 if c["_issue"] == int(number) and (since is None or c["updated_at"] >= since)]
        return self._page(items, query)

    def _comments_post(self, number: str, body: Any, **_: Any) -> _Reply:
        gh = self.github
        self._issue(number)
        text = self._body_text(body, "IssueComment")
        return _Reply(201, gh._create_comment(int(number), text, self._caller()))

    def _body_text(self, body: Any, resource: str) -> str:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            raise _error(422, "Invalid request.\n\n\"body\" wasn't supplied.")
        text = body["body"]
        if len(text) > self.github.comment_limit:
            raise _error(422, "Validation Failed", [{
                "resource": resource, "code": "custom", "field": "body",
                "message": f"body is too long (maximum is {self.github.comment_limit} characters)"}])
        return text

    def _comment(self, comment_id: str) -> dict[str, Any]:
        comment = self.github.comments.get(int(comment_id))
        if comment is None:
            raise _error(404, "Not Found")
        return comment

    def _comment_get(self, comment_id: str, **_: Any) -> _Reply:
        return _Reply(200, self.github.comment_json(self._comment(comment_id)))

    def _comment_patch(self, comment_id: str, body: Any, **_: Any) -> _Reply:
        gh = self.github
        comment = self._comment(comment_id)
        if comment["_login"].lower() != self._caller().lower():
            raise _error(403, "You must be the comment author to edit it")
        comment["body"] = self._body_text(body, "IssueComment")
        comment["updated_at"] = gh._now()
        return _Reply(200, gh.comment_json(comment))

    def _comment_delete(self, comment_id: str, **_: Any) -> _Reply:
        self._comment(comment_id)
        del self.github.comments[int(comment_id)]
        return _Reply(204)

    def _reactions_get(self, comment_id: str, query: dict[str, list[str]], **_: Any) -> _Reply:
        self._comment(comment_id)
        return self._page(list(self.github.reactions.get(int(comment_id), [])), query)

    def _reactions_post(self, comment_id: str, body: Any, **_: Any) -> _Reply:
        gh = self.github
        self._comment(comment_id)
        content = body.get("content") if isinstance(body, dict) else None
        if content not in REACTIONS:
            raise _error(422, "Validation Failed", [{"resource": "Reaction", "field": "content", "code": "invalid"}])
        existing = gh.reactions.setdefault(int(comment_id), [])
        for reaction in existing:
            if reaction["content"] == content and reaction["user"]["login"] == self._caller():
                return _Reply(200, reaction)
        rid = next(gh._ids)
        reaction = {"id": rid, "node_id": f"REA_{rid}", "user": gh.user_json(self._caller()), "content": content,
                    "created_at": gh._now()}
        existing.append(reaction)
        return _Reply(201, reaction)

    def _issue_labels_get(self, number: str, **_: Any) -> _Reply:
        gh = self.github
        return _Reply(200, [gh._label(name) for name in self._issue(number).labels])

    def _issue_labels_post(self, number: str, body: Any, **_: Any) -> _Reply:
        gh = self.github
        issue = self._issue(number)
        names = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _error(422, "Invalid request.\n\nInvalid input: labels")
        for name in names:
            label = gh._label(name)
            if label["name"].lower() not in [n.lower() for n in issue.labels]:
                issue.labels.append(label["name"])
        issue.updated = gh._now()
        return _Reply(200, [gh._label(name) for name in issue.labels])

    def _issue_label_delete(self, number: str, name: str, **_: Any) -> _Reply:
        gh = self.github
        issue = self._issue(number)
        lowered = [n.lower() for n in issue.labels]
        if name.lower() not in lowered:
            raise _error(404, "Label does not exist")
        issue.labels.pop(lowered.index(name.lower()))
        return _Reply(200, [gh._label(n) for n in issue.labels])

    def _labels_post(self, body: Any, **_: Any) -> _Reply:
        gh = self.github
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise _error(422, "Validation Failed", [{"resource": "Label", "field": "name", "code": "missing_field"}])
        if body["name"].lower() in gh.labels:
            raise _error(422, "Validation Failed", [{"resource": "Label", "code": "already_exists", "field": "name"}])
        color = str(body.get("color") or "ededed")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise _error(422, "Validation Failed", [{"resource": "Label", "field": "color", "code": "invalid"}])
        return _Reply(201, gh._label(body["name"], color, body.get("description") or None))

    def _label_get(self, name: str, **_: Any) -> _Reply:
        label = self.github.labels.get(name.lower())
        if label is None:
            raise _error(404, "Not Found")
        return _Reply(200, label)

    def _label_delete(self, name: str, **_: Any) -> _Reply:
        gh = self.github
        label = gh.labels.pop(name.lower(), None)
        if label is None:
            raise _error(404, "Not Found")
        for issue in gh.pulls.values():  # GitHub removes a deleted label from every issue
            issue.labels[:] = [n for n in issue.labels if n.lower() != name.lower()]
        return _Reply(204, None)

    def _statuses_post(self, sha: str, body: Any, **_: Any) -> _Reply:
        gh = self.github
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            raise _error(422, f"No commit found for SHA: {sha}")
        body = body if isinstance(body, dict) else {}
        if body.get("state") not in ("error", "failure", "pending", "success"):
            raise _error(422, "Validation Failed", [{"resource": "Status", "field": "state", "code": "custom"}])
        if len(body.get("description") or "") > 140:
            raise _error(422, "Validation Failed", [{"resource": "Status", "code": "custom", "field": "description",
                                                      "message": "description is too long (maximum is 140 characters)"}])
        sid = next(gh._ids)
        now = gh._now()
        status = {"url": f"{gh.repo_api}/statuses/{sha}", "avatar_url": None, "id": sid, "node_id": f"SC_{sid}",
                  "state": body["state"], "description": body.get("description"), "target_url": body.get("target_url"),
                  "context": body.get("context") or "default", "created_at": now, "updated_at": now,
                  "creator": gh.user_json(self._caller())}
        gh.statuses.setdefault(sha, []).insert(0, status)
        return _Reply(201, status)

    def _commit_statuses_get(self, ref: str, query: dict[str, list[str]], **_: Any) -> _Reply:
        return self._page(list(self.github.statuses.get(ref, [])), query)

    _CHECK_STATUSES = ("queued", "in_progress", "completed")
    _CHECK_CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out")

    def _check_run_body(self, body: Any, *, creating: bool) -> dict[str, Any]:
        """GitHub's validation of a check run's fields (422s), and 403 without `checks: write`."""
        if self.github.checks_forbidden:
            raise _error(403, "Resource not accessible by integration")
        body = body if isinstance(body, dict) else {}
        invalid = lambda field: _error(422, "Validation Failed", [{"resource": "CheckRun", "field": field,  # noqa: E731
                                                                   "code": "invalid"}])
        if creating:
            if not isinstance(body.get("name"), str) or not body["name"]:
                raise invalid("name")
            if not re.fullmatch(r"[0-9a-f]{40}", str(body.get("head_sha") or "")):
                raise _error(422, "No commit found for SHA: " + str(body.get("head_sha")))
        if "status" in body and body["status"] not in self._CHECK_STATUSES:
            raise invalid("status")
        if body.get("conclusion") is not None and body["conclusion"] not in self._CHECK_CONCLUSIONS:
            raise invalid("conclusion")
        if body.get("status") == "completed" and not body.get("conclusion"):
            raise _error(422, "Invalid request.\n\nNo subschema in \"anyOf\" matched: \"conclusion\" wasn't supplied.")
        output = body.get("output")
        if output is not None:
            if not isinstance(output, dict) or not output.get("title") or not isinstance(output.get("summary"), str):
                raise _error(422, "Invalid request.\n\n\"title\", \"summary\" weren't supplied.")
            if len(output["summary"]) > 65_535 or len(output.get("text") or "") > 65_535:
                raise _error(422, "Validation Failed", [{"resource": "CheckRun", "field": "output",
                                                          "code": "custom", "message": "summary is too long"}])
        return body

    def _check_runs_post(self, body: Any, **_: Any) -> _Reply:
        gh = self.github
        body = self._check_run_body(body, creating=True)
        return _Reply(201, gh.check_run_json(gh._new_check_run(body, "github-actions")))

    def _check_run_patch(self, check_run_id: str, body: Any, **_: Any) -> _Reply:
        gh = self.github
        run = gh.check_runs.get(int(check_run_id))
        if run is None:
            raise _error(404, "Not Found")
        body = self._check_run_body(body, creating=False)
        for key in ("name", "details_url", "external_id", "started_at"):
            if key in body:
                run[key] = body[key]
        if body.get("output") is not None:
            run["output"] = {"title": None, "summary": None, "text": None, **body["output"]}
        if body.get("conclusion") is not None:
            run.update(status="completed", conclusion=body["conclusion"],
                       completed_at=body.get("completed_at") or gh._now())
        elif "status" in body:
            run["status"] = body["status"]
        return _Reply(200, gh.check_run_json(run))

    def _commit_check_runs_get(self, ref: str, query: dict[str, list[str]], **_: Any) -> _Reply:
        gh = self.github
        if gh.checks_forbidden:
            raise _error(403, "Resource not accessible by integration")
        name = (query.get("check_name") or [None])[0]
        runs = sorted((r for r in gh.check_runs.values() if r["head_sha"] == ref
                       and (name is None or r["name"] == name)), key=lambda r: -r["id"])
        if (query.get("filter") or ["latest"])[0] == "latest":
            seen: set[str] = set()
            runs = [r for r in runs if not (r["name"] in seen or seen.add(r["name"]))]
        page = self._page([gh.check_run_json(r) for r in runs], query)
        return _Reply(200, {"total_count": len(runs), "check_runs": page.body}, page.headers)

    def _deployment_json(self, dep: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in dep.items() if not k.startswith("_")}

    def _deployments_post(self, body: Any, **_: Any) -> _Reply:
        gh = self.github
        body = body if isinstance(body, dict) else {}
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref:
            raise _error(422, "Validation Failed", [{"resource": "Deployment", "field": "ref", "code": "missing_field"}])
        did = next(gh._ids)
        now = gh._now()
        env = body.get("environment") or "production"
        url = f"{gh.repo_api}/deployments/{did}"
        dep = {"id": did, "node_id": f"DE_{did}", "sha": ref, "ref": ref, "task": body.get("task") or "deploy",
               "environment": env, "original_environment": env, "payload": body.get("payload") or {},
               "description": body.get("description"), "creator": gh.user_json(self._caller()),
               "statuses_url": url + "/statuses", "repository_url": gh.repo_api, "url": url,
               "created_at": now, "updated_at": now,
               "transient_environment": bool(body.get("transient_environment", False)),
               "production_environment": bool(body.get("production_environment", env == "production"))}
        gh.deployments[did] = dep
        return _Reply(201, self._deployment_json(dep))

    def _deployments_get(self, query: dict[str, list[str]], **_: Any) -> _Reply:
        gh = self.github
        sha = (query.get("sha") or [None])[0]
        env = (query.get("environment") or [None])[0]
        items = [self._deployment_json(d) for d in sorted(gh.deployments.values(), key=lambda d: -d["id"])
                 if (sha is None or d["sha"] == sha) and (env is None or d["environment"] == env)]
        return self._page(items, query)

    def _deployment_statuses_post(self, deployment_id: str, body: Any, **_: Any) -> _Reply:
        gh = self.github
        dep = gh.deployments.get(int(deployment_id))
        if dep is None:
            raise _error(404, "Not Found")
        body = body if isinstance(body, dict) else {}
        state = body.get("state")
        if state not in ("error", "failure", "inactive", "in_progress", "queued", "pending", "success"):
            raise _error(422, "Validation Failed", [{"resource": "DeploymentStatus", "field": "state", "code": "invalid"}])
        if state == "success" and body.get("auto_inactive", True):
            for other in gh.deployments.values():
                if other["environment"] == dep["environment"] and other["id"] != dep["id"]:
                    statuses = gh.deployment_statuses.get(other["id"]) or []
                    if statuses and statuses[0]["state"] == "success":
                        statuses.insert(0, dict(statuses[0], state="inactive"))
        sid = next(gh._ids)
        now = gh._now()
        status = {"id": sid, "node_id": f"DES_{sid}", "state": state, "creator": gh.user_json(self._caller()),
                  "description": body.get("description") or "", "environment": dep["environment"],
                  # GitHub answers "" for an unset URL; the description says format uri, so the
                  # fake gives the deployment's own URL instead, and leaves the optional ones out.
                  "target_url": body.get("log_url") or body.get("target_url") or dep["url"],
                  "deployment_url": dep["url"], "repository_url": gh.repo_api,
                  "url": f"{dep['url']}/statuses/{sid}", "created_at": now, "updated_at": now}
        for key in ("log_url", "environment_url"):
            if body.get(key):
                status[key] = body[key]
        gh.deployment_statuses.setdefault(dep["id"], []).insert(0, status)
        return _Reply(201, status)

    def _deployment_statuses_get(self, deployment_id: str, query: dict[str, list[str]], **_: Any) -> _Reply:
        gh = self.github
        if int(deployment_id) not in gh.deployments:
            raise _error(404, "Not Found")
        return self._page(list(gh.deployment_statuses.get(int(deployment_id), [])), query)

    def _page(self, items: list[Any], query: dict[str, list[str]]) -> _Reply:
        per_page = max(1, min(100, int((query.get("per_page") or ["30"])[0])))
        page = max(1, int((query.get("page") or ["1"])[0]))
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(items):
            params = {k: v[0] for k, v in query.items()}
            params.update(page=str(page + 1), per_page=str(per_page))
            link = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
            headers["Link"] = f'<{self.github.api}{urlsplit(self.path).path}?{link}>; rel="next"'
        return _Reply(200, chunk, headers)


_ROUTES: list[tuple[str, str]] = [
    (r"", "repo"),
    (r"/collaborators/([^/]+)/permission", "permission"),
    (r"/contents/(.+)", "contents"),
    (r"/pulls/(\d+)", "pull"),
    (r"/pulls/(\d+)/merge", "merge"),
    (r"/pulls/(\d+)/reviews", "reviews"),
    (r"/compare/(.+)", "compare"),
    (r"/activity", "activity"),
    (r"/issues", "issues"),
    (r"/issues/(\d+)/comments", "comments"),
    (r"/issues/comments/(\d+)", "comment"),
    (r"/issues/comments/(\d+)/reactions", "reactions"),
    (r"/issues/(\d+)/labels", "issue_labels"),
    (r"/issues/(\d+)/labels/([^/]+)", "issue_label"),
    (r"/labels", "labels"),
    (r"/labels/([^/]+)", "label"),
    (r"/statuses/([^/]+)", "statuses"),
    (r"/commits/([^/]+)/statuses", "commit_statuses"),
    (r"/commits/([^/]+)/check-runs", "commit_check_runs"),
    (r"/check-runs", "check_runs"),
    (r"/check-runs/(\d+)", "check_run"),
    (r"/deployments", "deployments"),
    (r"/deployments/(\d+)/statuses", "deployment_statuses"),
    (r"/actions/workflows/([^/]+)/(enable|disable)", "workflow_switch"),
    (r"/actions/runs/(\d+)", "workflow_run"),
]


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
