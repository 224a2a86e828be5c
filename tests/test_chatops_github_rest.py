"""The minimal GitHub REST adapter over real HTTP, against a small local server shaped like GitHub's
answers (the same fields and statuses the REST docs give for these endpoints)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from kfops_action.chatops.github_rest import API_VERSION, GitHubRest
from kfops_action.chatops.ports import GitHubError

TOKEN = "ghs_testtoken0123456789"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class GitHubServer:
    """Routes: (METHOD, path) -> (status, JSON body or text, headers). Unknown routes: 404."""

    routes: dict[tuple[str, str], tuple[int, Any, dict[str, str]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def answer(self, method: str, path: str, status: int, body: Any = None, **headers: str) -> None:
        self.routes[(method, path)] = (status, body, headers)


def _handler(server: GitHubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            server.requests.append(Recorded(self.command, parts.path, parse_qs(parts.query),
                                            {k.lower(): v for k, v in self.headers.items()},
                                            json.loads(raw) if raw else None))
            status, body, headers = server.routes.get(
                (self.command, parts.path),
                (404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, {}))
            data = body.encode() if isinstance(body, str) else (b"" if body is None else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    return Handler


@contextlib.contextmanager
def serve_github() -> Iterator[GitHubServer]:
    """A GitHubServer on a free local port, in a background thread."""
    state = GitHubServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def github_server() -> Iterator[GitHubServer]:
    with serve_github() as server:
        yield server


def client(server: GitHubServer, token: str | None = TOKEN) -> GitHubRest:
    return GitHubRest(server.url, "acme/model", token, timeout=(2, 5))


def test_headers_and_the_permission_role_name(github_server: GitHubServer) -> None:
    github_server.answer("GET", "/repos/acme/model/collaborators/alice/permission", 200,
                         {"permission": "write", "role_name": "maintain", "user": {"login": "alice"}})
    assert client(github_server).get_permission("alice") == "maintain"
    [req] = github_server.requests
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["x-github-api-version"] == API_VERSION == "2022-11-28"
    assert req.headers["accept"] == "application/vnd.github+json"
    assert req.headers["user-agent"].startswith("kfops/")


def test_custom_role_falls_back_to_the_legacy_field_and_strangers_have_none(github_server: GitHubServer) -> None:
    github_server.answer("GET", "/repos/acme/model/collaborators/bob/permission", 200,
                         {"permission": "read", "role_name": "data-viewer"})
    assert client(github_server).get_permission("bob") == "read"
    assert client(github_server).get_permission("nobody") == "none"  # 404


def test_logins_cannot_add_path_segments(github_server: GitHubServer) -> None:
    client(github_server).get_permission("../../orgs/acme")
    assert github_server.requests[0].path == "/repos/acme/model/collaborators/..%2F..%2Forgs%2Facme/permission"


def test_pull_reactions_and_comments(github_server: GitHubServer) -> None:
    github_server.answer("GET", "/repos/acme/model/pulls/7", 200, {"number": 7, "state": "open"})
    github_server.answer("POST", "/repos/acme/model/issues/comments/1001/reactions", 201, {"id": 1, "content": "eyes"})
    github_server.answer("POST", "/repos/acme/model/issues/7/comments", 201, {"id": 2})
    gh = client(github_server)
    assert gh.get_pull(7)["state"] == "open"
    gh.add_reaction(1001, "eyes")
    gh.post_comment(7, "hello")
    assert [r.body for r in github_server.requests] == [None, {"content": "eyes"}, {"body": "hello"}]


def test_team_membership(github_server: GitHubServer) -> None:
    github_server.answer("GET", "/orgs/acme/teams/ml/memberships/alice", 200, {"state": "active", "role": "member"})
    github_server.answer("GET", "/orgs/acme/teams/ml/memberships/bob", 200, {"state": "pending", "role": "member"})
    gh = client(github_server)
    assert gh.is_team_member("acme", "ml", "alice") is True
    assert gh.is_team_member("acme", "ml", "bob") is False
    assert gh.is_team_member("acme", "ml", "carol") is False  # 404


def test_team_lookup_forbidden_says_which_token_can(github_server: GitHubServer) -> None:
    github_server.answer("GET", "/orgs/acme/teams/ml/memberships/alice", 403,
                         {"message": "Resource not accessible by integration"})
    with pytest.raises(GitHubError) as err:
        client(github_server).is_team_member("acme", "ml", "alice")
    assert "GitHub answered 403" in str(err.value)
    assert "Resource not accessible by integration" in str(err.value)
    assert "read:org" in str(err.value)


def test_file_on_a_branch(github_server: GitHubServer) -> None:
    github_server.answer("GET", "/repos/acme/model/contents/config/kfops.yaml", 200, "pipeline: {}\n")
    gh = client(github_server)
    assert gh.get_file_text("config/kfops.yaml", "main") == "pipeline: {}\n"
    req = github_server.requests[0]
    assert req.query == {"ref": ["main"]} and req.headers["accept"] == "application/vnd.github.raw+json"
    assert gh.get_file_text("kfops.yaml", "main") is None


@pytest.mark.parametrize(("status", "headers", "fix"), [
    (401, {}, "the token is invalid or expired"),
    (403, {}, "pull-requests: write"),
    (403, {"retry-after": "60"}, "rate limit was hit: retry the command after 60s"),
    (429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000000"}, "after the reset at epoch 1700000000"),
    (422, {}, "refused the request's content"),
    (502, {}, "retry the command"),
])
def test_errors_say_what_to_do(github_server: GitHubServer, status: int, headers: dict[str, str], fix: str) -> None:
    github_server.answer("POST", "/repos/acme/model/issues/7/comments", status,
                         {"message": f"nope {TOKEN}", "errors": [{"code": "custom", "message": "Body is too long"}]},
                         **headers)
    with pytest.raises(GitHubError) as err:
        client(github_server).post_comment(7, "x")
    text = str(err.value)
    assert f"cannot comment on pull request #7: GitHub answered {status}" in text
    assert fix in text
    assert "Body is too long" in text
    assert TOKEN not in text
    assert err.value.status == status


def test_no_token_is_a_clear_error_before_any_request(github_server: GitHubServer) -> None:
    with pytest.raises(GitHubError, match="no GitHub token") as err:
        client(github_server, token=None).add_reaction(1, "eyes")
    assert "github_token" in str(err.value)
    assert github_server.requests == []


def test_a_silent_server_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        gh = GitHubRest(f"http://127.0.0.1:{port}", "acme/model", TOKEN, timeout=(0.5, 0.3))
        with pytest.raises(GitHubError, match="no answer from") as err:
            gh.get_pull(7)
    assert "ReadTimeout" in str(err.value) or "Timeout" in str(err.value)


def test_an_unreachable_host_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gh = GitHubRest(f"http://127.0.0.1:{port}", "acme/model", TOKEN, timeout=(0.5, 0.5))
    with pytest.raises(GitHubError, match="no answer from") as err:
        gh.get_pull(7)
    assert "check GITHUB_API_URL" in str(err.value)


def test_importing_the_adapter_does_not_import_requests() -> None:
    import subprocess
    import sys

    code = ("import sys\nimport kfops_action.chatops.github_rest\nprint('requests' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
