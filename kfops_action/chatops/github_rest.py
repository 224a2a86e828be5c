"""A minimal GitHub REST adapter for the Action: the GitHubPort, plus reading a file on a branch.

Minimal on purpose, until the reporter issue brings the full client (retries on secondary rate
limits with `retry-after`/`x-ratelimit-reset` and backoff, pagination, comment editing). What it
does do: a Bearer token, `X-GitHub-Api-Version: 2022-11-28`, a timeout on every request, and an
error that says what was asked, what GitHub answered and what to change, with the token scrubbed.

`requests` is imported on the first request, not with this module.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .. import __version__
from ..errors import Problem
from .authorize import normalize_level
from .ports import GitHubError

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"
TIMEOUT = (10.0, 30.0)  # connect, read (seconds)
_MAX_MESSAGE = 300


class GitHubRest:
    """GitHubPort over GitHub's REST API for one repository."""

    def __init__(self, api_url: str | None, repository: str, token: str | None, *,
                 timeout: tuple[float, float] = TIMEOUT, session: Any = None) -> None:
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.repository = repository
        self._token = token
        self._timeout = timeout
        self._session = session

    # --- GitHubPort ------------------------------------------------------------------------

    def get_permission(self, user: str) -> str:
        """`role_name` (maintain and triage exist only there); a custom role falls back to the
        legacy `permission` field. A user GitHub does not know has none."""
        data = self._json("GET", f"{self._repo}/collaborators/{_seg(user)}/permission",
                          what=f"read the permission of {user}", missing_ok=True)
        if data is None:
            return "none"
        return normalize_level(data.get("role_name"), data.get("permission"))

    def get_pull(self, number: int) -> dict[str, Any]:
        data = self._json("GET", f"{self._repo}/pulls/{int(number)}", what=f"read pull request #{number}")
        assert data is not None
        return data

    def is_team_member(self, org: str, team: str, user: str) -> bool:
        data = self._json("GET", f"/orgs/{_seg(org)}/teams/{_seg(team)}/memberships/{_seg(user)}",
                          what=f"check whether {user} is in {org}/{team}", missing_ok=True,
                          fix_403="reading org teams needs a token with the read:org scope (a GitHub App "
                                  "with Members: read, or a PAT); GITHUB_TOKEN cannot read them")
        return data is not None and data.get("state") == "active"

    def add_reaction(self, comment_id: int, content: str) -> None:
        self._json("POST", f"{self._repo}/issues/comments/{int(comment_id)}/reactions",
                   what=f"add a {content} reaction", body={"content": content})

    def post_comment(self, number: int, body: str) -> None:
        self._json("POST", f"{self._repo}/issues/{int(number)}/comments",
                   what=f"comment on pull request #{number}", body={"body": body})

    # --- the base-branch config ------------------------------------------------------------

    def get_file_text(self, path: str, ref: str) -> str | None:
        """A file's text on a branch (None when it is not there), without checking anything out."""
        response = self._request("GET", f"{self._repo}/contents/{quote(path.lstrip('/'))}",
                                 what=f"read {path} on {ref}", params={"ref": ref},
                                 accept="application/vnd.github.raw+json", missing_ok=True)
        if response is None:
            return None
        response.encoding = "utf-8"
        return str(response.text)

    # --- plumbing ----------------------------------------------------------------------------

    @property
    def _repo(self) -> str:
        owner, _, name = self.repository.partition("/")
        return f"/repos/{_seg(owner)}/{_seg(name)}"

    def _http(self) -> Any:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def _json(self, method: str, path: str, *, what: str, body: dict[str, Any] | None = None,
              missing_ok: bool = False, fix_403: str | None = None) -> dict[str, Any] | None:
        response = self._request(method, path, what=what, body=body, missing_ok=missing_ok, fix_403=fix_403)
        if response is None or response.status_code == 204 or not response.content:
            return None if response is None else {}
        try:
            data = response.json()
        except ValueError:
            raise self._error(what, method, path, response.status_code,
                              "the answer is not JSON", "check GITHUB_API_URL") from None
        return data if isinstance(data, dict) else {"items": data}

    def _request(self, method: str, path: str, *, what: str, body: dict[str, Any] | None = None,
                 params: dict[str, str] | None = None, accept: str = "application/vnd.github+json",
                 missing_ok: bool = False, fix_403: str | None = None) -> Any:
        if not self._token:
            raise GitHubError(f"cannot {what}: no GitHub token",
                              fix="give the action `github_token: ${{ secrets.GITHUB_TOKEN }}` (or an "
                                  "App token) and `permissions: {pull-requests: write, issues: write, "
                                  "contents: read}`")
        headers = {"Authorization": f"Bearer {self._token}", "Accept": accept,
                   "X-GitHub-Api-Version": API_VERSION, "User-Agent": f"kfops/{__version__}"}
        url = self.api_url + path
        import requests

        try:
            response = self._http().request(method, url, headers=headers, json=body, params=params,
                                            timeout=self._timeout, allow_redirects=True)
        except requests.RequestException as exc:  # ConnectionError, Timeout, InvalidURL, ...
            raise GitHubError(f"cannot {what}: no answer from {self.api_url}",
                              [Problem(self._scrub(f"{type(exc).__name__}: {exc}"), f"{method} {path}")],
                              fix="check GITHUB_API_URL and the runner's network; retry the command") from None
        status = response.status_code
        if status == 404 and missing_ok:
            return None
        if 200 <= status < 300:
            return response
        raise self._error(what, method, path, status, _message(response), _fix(status, response, fix_403))

    def _error(self, what: str, method: str, path: str, status: int, message: str, fix: str) -> GitHubError:
        return GitHubError(f"cannot {what}: GitHub answered {status}",
                           [Problem(self._scrub(message), f"{method} {path}")], fix=fix, status=status)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def _seg(value: str) -> str:
    """One URL path segment: a login or name can never add a path of its own."""
    return quote(str(value), safe="")


def _message(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("message"):
        text = str(data["message"])
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            text += ": " + "; ".join(str(e.get("message") or e.get("code") or e) if isinstance(e, dict) else str(e)
                                     for e in errors)
    else:
        text = (response.text or "").strip().splitlines()[0] if (response.text or "").strip() else "(empty)"
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "\u2026"


def _fix(status: int, response: Any, fix_403: str | None) -> str:
    headers = getattr(response, "headers", {}) or {}
    if status in (403, 429) and (headers.get("retry-after") or headers.get("x-ratelimit-remaining") == "0"):
        wait = headers.get("retry-after")
        when = f"after {wait}s" if wait else f"after the reset at epoch {headers.get('x-ratelimit-reset', '?')}"
        return f"GitHub's rate limit was hit: retry the command {when}"
    if status == 401:
        return "the token is invalid or expired: check the action's github_token input"
    if status == 403:
        return fix_403 or ("the token lacks a permission: give the job `permissions: {pull-requests: write, "
                           "issues: write, contents: read}`")
    if status == 404:
        return "check GITHUB_REPOSITORY and that the token can see this repository"
    if status == 422:
        return "GitHub refused the request's content (see the message above)"
    return "GitHub had a problem; retry the command" if status >= 500 else "see GitHub's message above"
