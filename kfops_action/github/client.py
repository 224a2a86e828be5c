"""A small GitHub REST client on `requests`, written for GitHub's rules rather than a generic one.

Why our own (and not PyGithub): the Action makes a handful of calls per command, and what matters
is how it behaves when GitHub pushes back:

- Transient failures (connection errors, 5xx) are retried with exponential backoff and full
  jitter, a bounded number of times, then end in an error that says what was tried.
- Rate limits follow GitHub's documented rules: on 403/429 wait `retry-after` seconds if given,
  else until `x-ratelimit-reset` when `x-ratelimit-remaining` is 0, else at least a minute,
  doubling on each further hit. A wait longer than `max_wait` fails at once with the time the
  limit resets, instead of holding a runner for an hour.
- Content-creating requests (POST, PATCH, PUT, DELETE) are spaced `pace_seconds` apart, as GitHub
  asks ("wait at least one second between each request"), which also keeps us far below the
  ~80/minute secondary limit.
- A POST that may have been applied before the failure (a reset connection, a 502 after the
  write) is not blindly sent again: the caller passes `reconcile`, which looks for the result of
  the first attempt, so that a retried comment is never posted twice.
- Every request is counted (reads, writes, retries, time waited) and the count goes to the job
  log (`summary()`), because GITHUB_TOKEN has 1,000 requests an hour per repository.

The token is only ever sent to the configured API origin: an absolute URL elsewhere (a `Link`
header pointing off-site, say) is refused. Every string in a request body goes through `scrub`
(by default: the token itself is removed), whatever module built the body. `requests` is imported when the first client is made,
so importing this module stays cheap. Sleep and clocks are injectable: tests never wait.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from kfops_action import __version__
from kfops_action.errors import Problem, RemoteError

if TYPE_CHECKING:
    import requests

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
USER_AGENT = f"kfops/{__version__} (Kubeflow Pipelines ChatOps; +kfops GitHub Action)"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
DOCS_RATE_LIMITS = "GitHub's 'Rate limits for the REST API' page"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Defaults follow GitHub's guidance; tests shrink nothing but the sleep."""

    max_attempts: int = 5           # per request, counting the first
    backoff_base: float = 1.0       # seconds; attempt n waits uniform(0, base * 2**(n-1))
    backoff_cap: float = 30.0
    secondary_min_wait: float = 60.0  # a rate-limit answer with no hint: at least a minute
    max_wait: float = 900.0         # one wait longer than this fails now, naming the reset time
    pace_seconds: float = 1.0       # between content-creating requests


@dataclass(frozen=True)
class Reply:
    """A successful answer: status, parsed JSON (None for 204 or an empty body), headers."""

    status: int
    data: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RequestStats:
    """What the job log shows at the end of a command: the budget spent."""

    requests: int = 0          # HTTP requests sent, retries included
    writes: int = 0            # of which content-creating
    retries: int = 0
    waited: float = 0.0        # seconds slept for backoff, rate limits and pacing
    rate_limit: int | None = None
    rate_remaining: int | None = None
    rate_reset: int | None = None  # epoch seconds
    by_route: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        reads = self.requests - self.writes
        text = f"GitHub API: {self.requests} requests ({reads} reads, {self.writes} writes"
        text += f", {self.retries} retries" if self.retries else ""
        text += f", {self.waited:.1f}s waited)" if self.waited >= 0.05 else ")"
        if self.rate_remaining is not None and self.rate_limit is not None:
            text += f"; rate limit {self.rate_remaining}/{self.rate_limit} left"
            if self.rate_reset:
                text += " until " + time.strftime("%H:%M:%S UTC", time.gmtime(self.rate_reset))
        return text


class GitHubError(RemoteError):
    """GitHub refused a request, or could not be reached after every retry.

    `status` is the HTTP status (None when no answer came); `message` is GitHub's own; `errors`
    its `errors` array (validation details, e.g. "body is too long").
    """

    def __init__(self, what: str, *, status: int | None = None, message: str = "",
                 errors: list[Any] | None = None, fix: str | None = None,
                 problems: list[Problem] | None = None, method: str = "", path: str = "") -> None:
        super().__init__(what, problems, fix, 1, status)
        self.message = message
        self.errors = errors or []
        self.method = method
        self.path = path

    def has_error_text(self, text: str) -> bool:
        """Whether GitHub's message or one of its `errors` mentions `text` (case-insensitive)."""
        needle = text.lower()
        blobs = [self.message] + [json.dumps(e) if not isinstance(e, str) else e for e in self.errors]
        return any(needle in blob.lower() for blob in blobs)


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying.

    `kind` is "transient" (no answer, 5xx: exponential backoff with jitter) or "rate" (403/429
    rate limits: at least a minute, doubling); `hint` is GitHub's own wait when it gave one.
    """

    def __init__(self, reason: str, kind: str, hint: float | None, *, applied_maybe: bool,
                 error: GitHubError | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.hint = hint
        self.applied_maybe = applied_maybe
        self.error = error


def segment(value: str | int) -> str:
    """One URL path segment, percent-encoded (label names may hold spaces, '/', '#')."""
    return quote(str(value), safe="")


def api_url_from_env(env: Mapping[str, str] | None = None) -> str:
    """GITHUB_API_URL as the runner sets it (GitHub Enterprise Server: https://HOST/api/v3)."""
    env = os.environ if env is None else env
    return (env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")


class GitHubClient:
    """One token, one API origin. Thread-compatible, not thread-safe (one command at a time)."""

    def __init__(self, token: str, *, api_url: str | None = None,
                 env: Mapping[str, str] | None = None,
                 user_agent: str = USER_AGENT,
                 timeout: tuple[float, float] = (10.0, 30.0),
                 policy: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 jitter: Callable[[], float] = random.random,
                 log: Callable[[str], None] | None = None,
                 scrub: Callable[[str], str] | None = None,
                 session: requests.Session | None = None) -> None:
        if not token:
            raise GitHubError("No GitHub token", fix="pass the `github-token` input (default: "
                              "${{ github.token }}) or set GITHUB_TOKEN")
        import requests  # lazy: the Action reacts to a comment before paying for heavy imports

        self._requests = requests
        self.api_url = (api_url or api_url_from_env(env)).rstrip("/")
        origin = urlsplit(self.api_url)
        if origin.scheme not in ("http", "https") or not origin.netloc:
            raise GitHubError(f"GITHUB_API_URL is not an http(s) URL: {self.api_url!r}",
                              fix="unset it (api.github.com) or give your GitHub Enterprise API URL")
        self._origin = (origin.scheme, origin.netloc)
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.sleep, self.monotonic, self.wall, self.jitter = sleep, monotonic, wall, jitter
        self._scrub = scrub or (lambda text: text.replace(token, "***"))
        self._log = log
        self.stats = RequestStats()
        self._last_write: float | None = None
        self._session = session or requests.Session()
        # As `auth`, not a plain header: requests then never swaps in ~/.netrc credentials, and
        # drops the header if a redirect leaves the origin.
        self._session.auth = _Bearer(token)
        self._session.headers.update({
            "Accept": MEDIA_TYPE,
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": user_agent,
        })

    # -- public ------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None, ok: tuple[int, ...] = (200, 201, 202, 204),
                reconcile: Callable[[], Reply | None] | None = None) -> Reply:
        """Send one request, retrying per GitHub's rules; return the reply or raise GitHubError.

        `reconcile` (for non-idempotent POSTs): called before re-sending when the previous attempt
        may have been applied; if it finds the result of that attempt, it is returned instead.
        """
        method = method.upper()
        url = self._url(path)
        route = f"{method} {urlsplit(url).path}"
        started = self.monotonic()
        attempt = 0
        counts = {"transient": 0, "rate": 0}
        maybe_applied = False  # sticky: once an attempt may have gone through, always look first
        while True:
            attempt += 1
            if maybe_applied and reconcile is not None:
                found = reconcile()
                if found is not None:
                    self._note(f"{route}: the earlier attempt had been applied; not sending it again")
                    return found
            try:
                return self._attempt(method, url, route, params, json_body, ok)
            except _Retry as retry:
                maybe_applied = maybe_applied or retry.applied_maybe
                counts[retry.kind] += 1
                wait = self._delay(retry, counts[retry.kind])
                if attempt >= self.policy.max_attempts:
                    raise self._exhausted(method, route, attempt, started, retry) from None
                if wait > self.policy.max_wait:
                    raise self._too_long(method, route, retry, wait) from None
                self.stats.retries += 1
                self._note(f"{route}: {retry.reason}; retrying in {wait:.1f}s "
                           f"(attempt {attempt + 1} of {self.policy.max_attempts})")
                self._wait(wait)

    def get(self, path: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return self.request("GET", path, params=params, **kw).data

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, json_body=body, **kw).data

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, json_body=body, **kw).data

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, json_body=body, **kw).data

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw).data

    def paginate(self, path: str, params: Mapping[str, Any] | None = None, *, per_page: int = 100,
                 max_pages: int = 50, items: str | None = None) -> Iterator[Any]:
        """Items of a list endpoint, following `Link: rel="next"` (which stays on our origin).
        `items`: the key of the list in each page, for endpoints that wrap it in an object
        (`check_runs` in `{"total_count": n, "check_runs": [...]}`)."""
        query: dict[str, Any] | None = {**(params or {}), "per_page": per_page}
        url: str | None = path
        for _ in range(max_pages):
            if url is None:
                return
            reply = self.request("GET", url, params=query)
            data = reply.data.get(items) if items is not None and isinstance(reply.data, Mapping) else reply.data
            yield from data or []
            url, query = _next_link(reply.headers.get("link") or reply.headers.get("Link")), None
        if url is not None:
            self._note(f"GET {path}: stopped after {max_pages} pages")

    def summary(self) -> str:
        return self.stats.summary()

    # -- one attempt -------------------------------------------------------------------------

    def _attempt(self, method: str, url: str, route: str, params: Mapping[str, Any] | None,
                 json_body: Any, ok: tuple[int, ...]) -> Reply:
        requests = self._requests
        write = method in WRITE_METHODS
        if write:
            self._pace()
        self.stats.requests += 1
        self.stats.writes += write
        self.stats.by_route[route] = self.stats.by_route.get(route, 0) + 1
        if json_body is not None:
            json_body = _scrub_data(json_body, self._scrub)  # the last line of defence for posts
        try:
            response = self._session.request(method, url, params=params, json=json_body,
                                             timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            sent = not isinstance(exc, requests.ConnectTimeout) and not _refused(exc)
            raise _Retry(f"no answer ({_short(exc)})", "transient", None,
                         applied_maybe=write and sent) from None
        finally:
            if write:
                self._last_write = self.monotonic()
        self._read_rate(response.headers)
        if response.status_code in ok:
            return Reply(response.status_code, _json(response), response.headers)
        error = self._error(method, route, response)
        if self._is_rate_limit(response, error):
            raise _Retry(f"rate limited ({response.status_code}: {error.message or 'no message'})",
                         "rate", self._rate_limit_hint(response.headers), applied_maybe=False, error=error)
        if response.status_code in RETRY_STATUSES:
            raise _Retry(f"GitHub answered {response.status_code}", "transient",
                         _retry_after(response.headers), applied_maybe=write, error=error)
        raise error

    @staticmethod
    def _is_rate_limit(response: requests.Response, error: GitHubError) -> bool:
        """429 always; 403 only when GitHub says so (a 403 is otherwise a missing permission,
        which no amount of retrying fixes)."""
        if response.status_code == 429:
            return True
        if response.status_code != 403:
            return False
        headers = response.headers
        return (headers.get("retry-after") is not None or headers.get("x-ratelimit-remaining") == "0"
                or error.has_error_text("secondary rate limit") or error.has_error_text("rate limit exceeded")
                or error.has_error_text("abuse"))

    def _rate_limit_hint(self, headers: Mapping[str, str]) -> float | None:
        """GitHub's rule: `retry-after` if present, else the reset time if nothing remains."""
        hint = _retry_after(headers)
        if hint is not None:
            return hint
        reset = headers.get("x-ratelimit-reset")
        if headers.get("x-ratelimit-remaining") == "0" and reset and reset.isdigit():
            return max(1.0, int(reset) - self.wall() + 1.0)
        return None

    def _delay(self, retry: _Retry, count: int) -> float:
        """Seconds before the next attempt: GitHub's hint, else our backoff for this kind."""
        if retry.kind == "rate":
            floor = self.policy.secondary_min_wait * 2 ** (count - 1)
            return retry.hint if retry.hint is not None else floor
        if retry.hint is not None:
            return retry.hint
        ceiling = min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** (count - 1))
        return ceiling * self.jitter()

    def _pace(self) -> None:
        if self._last_write is None:
            return
        gap = self.policy.pace_seconds - (self.monotonic() - self._last_write)
        if gap > 0:
            self._wait(gap)

    def _wait(self, seconds: float) -> None:
        self.stats.waited += seconds
        self.sleep(seconds)

    def _read_rate(self, headers: Mapping[str, str]) -> None:
        if headers.get("x-ratelimit-resource", "core") != "core":
            return
        for name, attr in (("x-ratelimit-limit", "rate_limit"), ("x-ratelimit-remaining", "rate_remaining"),
                           ("x-ratelimit-reset", "rate_reset")):
            value = headers.get(name)
            if value is not None and value.isdigit():
                setattr(self.stats, attr, int(value))

    # -- errors --------------------------------------------------------------------------------

    def _error(self, method: str, route: str, response: requests.Response) -> GitHubError:
        data = _json(response)
        message = data.get("message", "") if isinstance(data, dict) else ""
        errors = data.get("errors", []) if isinstance(data, dict) else []
        if not isinstance(errors, list):
            errors = [errors]
        status = response.status_code
        problems = [Problem(self._scrub(_describe(e))) for e in errors]
        text = self._scrub(f"GitHub answered {status} to {route}" + (f": {message}" if message else ""))
        return GitHubError(text, status=status, message=self._scrub(str(message)), errors=errors,
                           fix=_fix_for(status, message), problems=problems, method=method, path=route)

    def _exhausted(self, method: str, route: str, attempts: int, started: float, last: _Retry) -> GitHubError:
        seconds = self.monotonic() - started
        what = (f"GitHub did not accept {route} after {attempts} attempts over {seconds:.0f}s "
                f"(last: {last.reason})")
        fix = ("GitHub is rate-limiting this token: wait, then comment the command again"
               if last.kind == "rate" else
               "GitHub or the network is failing; check the GitHub status page and comment the command again")
        status = last.error.status if last.error else None
        return GitHubError(self._scrub(what), status=status, fix=fix, method=method, path=route,
                           message=last.error.message if last.error else "")

    def _too_long(self, method: str, route: str, last: _Retry, wait: float) -> GitHubError:
        until = time.strftime("%H:%M:%S UTC", time.gmtime(self.wall() + wait))
        return GitHubError(
            self._scrub(f"GitHub's rate limit for this token is used up until {until} "
                        f"({wait / 60:.0f} minutes); {route} was not sent again"),
            status=last.error.status if last.error else None,
            fix=f"comment the command again after {until}; see {DOCS_RATE_LIMITS}",
            method=method, path=route)

    def _note(self, message: str) -> None:
        if self._log is not None:
            self._log(self._scrub(message))

    def _url(self, path: str) -> str:
        if "://" not in path:
            if not path.startswith("/"):
                path = "/" + path
            return self.api_url + path
        parts = urlsplit(path)
        if (parts.scheme, parts.netloc) != self._origin:
            raise GitHubError(f"refusing to send the GitHub token to {parts.scheme}://{parts.netloc}",
                              fix="a response pointed outside GITHUB_API_URL; report this as a bug")
        return path


# -- helpers -----------------------------------------------------------------------------------


def _json(response: requests.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


class _Bearer:
    """requests auth hook: `Authorization: Bearer <token>`, never shown in a repr."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(***)"


def _scrub_data(data: Any, scrub: Callable[[str], str]) -> Any:
    if isinstance(data, str):
        return scrub(data)
    if isinstance(data, dict):
        return {key: _scrub_data(value, scrub) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_scrub_data(value, scrub) for value in data]
    return data


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: GitHub sends seconds; fall back to the other rules


def _next_link(header: str | None) -> str | None:
    if not header:
        return None
    for part in header.split(","):
        section = part.split(";")
        if len(section) < 2:
            continue
        target = section[0].strip()
        if any(p.strip().replace(" ", "") in ('rel="next"', "rel=next") for p in section[1:]):
            return target.strip("<>")
    return None


def _refused(exc: Exception) -> bool:
    """True when the connection was never made (nothing can have been applied)."""
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text


def _short(exc: Exception) -> str:
    text = str(exc)
    return (text[:160] + "…") if len(text) > 160 else text or type(exc).__name__


def _describe(error: Any) -> str:
    if isinstance(error, dict):
        if error.get("message"):
            return str(error["message"])
        return ", ".join(f"{k}={v}" for k, v in error.items())
    return str(error)


def _fix_for(status: int, message: str) -> str | None:
    if status == 401:
        return "the token is invalid or expired: check the action's `github-token` input"
    if status == 403:
        return ("the token lacks a permission: give the workflow `permissions:` "
                "issues: write, pull-requests: write, statuses: write, deployments: write, checks: write "
                "(and contents: write to merge)")
    if status == 404:
        return "it does not exist, or the token cannot see it (check the repository and permissions)"
    if status == 422 and "too long" in message.lower():
        return "the body is over GitHub's 65,536-character limit: split it (kfops_action.github.splitting)"
    return None
