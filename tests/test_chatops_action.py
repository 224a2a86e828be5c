"""The Action's entry point as GitHub Actions runs it: `python -m kfops_action` with the job's
environment and an event file, answering a local server shaped like GitHub's REST API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_chatops_dispatch import event, pull_json
from test_chatops_github_rest import TOKEN, GitHubServer, serve_github

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("kfp", "kfp_server_api", "kubernetes", "jsonschema", "yaml")


@pytest.fixture
def github_server() -> Iterator[GitHubServer]:
    with serve_github() as server:
        yield server


def _dead_url() -> str:
    """A local port nobody listens on: any request there fails at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def action(tmp_path: Path, payload: Any, *, api_url: str, name: str = "issue_comment",
           extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "KF_PIPELINES"))}
    env.update({"GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": "acme/model",
                "GITHUB_API_URL": api_url, "GITHUB_WORKSPACE": str(tmp_path), "INPUT_GITHUB_TOKEN": TOKEN,
                **(extra or {})})
    return subprocess.run([sys.executable, "-m", "kfops_action"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize(("payload", "name", "reason"), [
    (event("/build", action="edited"), "issue_comment", "edited, not created"),
    (event("/deploy", user="github-actions[bot]", user_type="Bot"), "issue_comment", "bot github-actions[bot]"),
    (event("/build", pr=False), "issue_comment", "on an issue, not on a pull request"),
    (event("/build"), "pull_request_review_comment", "not issue_comment"),
    (event("thanks, looks good"), "issue_comment", "does not start with /"),
])
def test_ignored_events_exit_0_doing_nothing(tmp_path: Path, payload: Any, name: str, reason: str) -> None:
    # Any request would go to a dead port and fail the run: exit 0 proves none was made.
    result = action(tmp_path, payload, api_url=_dead_url(), name=name)
    assert result.returncode == 0, result.stderr
    assert reason in result.stderr
    assert "kfops: ignored" in result.stderr


def test_missing_event_path_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    result = subprocess.run([sys.executable, "-m", "kfops_action"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "GITHUB_EVENT_PATH is not set" in result.stderr and "kfc comment" in result.stderr


def _serve_pull(server: GitHubServer, role_name: str, legacy: str, base_config: str | None = None) -> None:
    server.answer("POST", "/repos/acme/model/issues/comments/1001/reactions", 201, {"id": 1})
    server.answer("GET", "/repos/acme/model/pulls/7", 200, pull_json())
    server.answer("GET", "/repos/acme/model/collaborators/alice/permission", 200,
                  {"permission": legacy, "role_name": role_name})
    server.answer("POST", "/repos/acme/model/issues/7/comments", 201, {"id": 2})
    if base_config is not None:
        server.answer("GET", "/repos/acme/model/contents/kfops.yaml", 200, base_config)


def test_refusal_end_to_end(tmp_path: Path, github_server: GitHubServer) -> None:
    _serve_pull(github_server, "write", "write")
    result = action(tmp_path, event("/deploy\nship it"), api_url=github_server.url)
    assert result.returncode == 0, result.stderr
    calls = [(r.method, r.path) for r in github_server.requests]
    assert calls[0] == ("POST", "/repos/acme/model/issues/comments/1001/reactions")
    assert github_server.requests[0].body == {"content": "eyes"}
    assert ("GET", "/repos/acme/model/contents/kfops.yaml") in calls
    assert github_server.requests[calls.index(("GET", "/repos/acme/model/contents/kfops.yaml"))].query == \
        {"ref": ["main"]}
    comment = next(r.body["body"] for r in github_server.requests if r.path.endswith("/issues/7/comments"))
    assert "@alice cannot run /deploy here: it needs maintain, alice has write." in comment
    assert github_server.requests[-1].body == {"content": "confused"}
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in github_server.requests)


def test_maintainer_reported_as_write_by_the_legacy_field_may_deploy(tmp_path: Path,
                                                                      github_server: GitHubServer) -> None:
    _serve_pull(github_server, "maintain", "write")
    result = action(tmp_path, event("/deploy"), api_url=github_server.url)
    assert result.returncode == 0, result.stderr
    comment = next(r.body["body"] for r in github_server.requests if r.path.endswith("/issues/7/comments"))
    assert "/deploy is not available yet in this version of kfops" in comment


def test_build_without_a_checkout_fails_with_a_clear_reply(tmp_path: Path, github_server: GitHubServer) -> None:
    _serve_pull(github_server, "write", "write", base_config="pipeline: {file: p.py, function: f}\n")
    result = action(tmp_path, event("/build"), api_url=github_server.url)
    assert result.returncode == 1
    comment = next(r.body["body"] for r in github_server.requests if r.path.endswith("/issues/7/comments"))
    assert "/build at `9f8e7d6` failed" in comment and "no kfops.yaml in the checked-out pull request" in comment
    assert github_server.requests[-1].body == {"content": "confused"}


def test_github_unreachable_fails_the_job_with_the_reason(tmp_path: Path) -> None:
    result = action(tmp_path, event("/build"), api_url=_dead_url())
    assert result.returncode == 1
    assert "no answer from" in result.stderr and "Traceback" not in result.stderr


def test_acknowledgement_comes_before_any_slow_import(tmp_path: Path) -> None:
    """The eyes reaction is sent while kfp, kubernetes, jsonschema and yaml are still unimported;
    they come in afterwards, with the base config and the handler."""
    (tmp_path / "event.json").write_text(json.dumps(event("/build_run --dry-run")))
    (tmp_path / "kfops.yaml").write_text("pipeline: {file: p.py, function: f}\n")
    code = textwrap.dedent(f"""
        import sys
        from kfops_action import action_main

        HEAVY = {HEAVY!r}

        def loaded():
            return sorted({{m.split('.')[0] for m in sys.modules}} & set(HEAVY))

        class Port:
            def add_reaction(self, comment_id, content):
                if content == "eyes":
                    print("AT_ACK", loaded())
            def get_pull(self, number):
                return {pull_json()!r}
            def get_permission(self, user):
                return "write"
            def is_team_member(self, org, team, user):
                return False
            def post_comment(self, number, body):
                pass

        env = {{"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": {str(tmp_path / 'event.json')!r},
               "GITHUB_REPOSITORY": "acme/model", "GITHUB_WORKSPACE": {str(tmp_path)!r}}}
        action_main.run(env, github=Port(), base_config=lambda ref: "pipeline: {{file: p.py, function: f}}\\n")
        print("AT_END", loaded())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "AT_ACK []" in out.stdout, out.stdout + out.stderr
    # proof that the check means something: the later stages did import them
    assert "'jsonschema'" in out.stdout.split("AT_END", 1)[1] and "'yaml'" in out.stdout.split("AT_END", 1)[1]


def test_console_script_is_declared() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert 'kfops-action = "kfops_action.action_main:main"' in text
