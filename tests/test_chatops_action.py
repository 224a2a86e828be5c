"""The Action's entry point as GitHub Actions runs it: `python -m kfops_action` with the job's
environment and an event file, answering the fake GitHub (directly, or through Prism checking
every exchange against GitHub's OpenAPI description)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fakes.github_prism import GITHUB_TOKEN, GitHubEndpoint, github  # noqa: F401
from test_chatops_dispatch import event, pull_json

from kfops_action import action_main
from kfops_action.github.client import GitHubClient, RetryPolicy
from kfops_action.github.refs import Repo
from kfops_action.github.repo import GitHubRepo
from kfops_action.github.scrub import Scrubber

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("kfp", "kfp_server_api", "kubernetes", "jsonschema", "yaml")
SHA = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
KFP_TOKEN = "kfp-secret-token-5b1e9a"


def _dead_url() -> str:
    """A local port nobody listens on: any request there fails at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def action(tmp_path: Path, payload: Any, *, api_url: str, name: str = "issue_comment",
           repository: str = "kfops-org/model", extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "KF_PIPELINES"))}
    env.update({"GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": repository,
                "GITHUB_API_URL": api_url, "GITHUB_WORKSPACE": str(tmp_path), "INPUT_GITHUB_TOKEN": GITHUB_TOKEN,
                "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), **(extra or {})})
    return subprocess.run([sys.executable, "-m", "kfops_action"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)


def _comment(github: GitHubEndpoint, body: str, *, role: str = "write", base: str | None = None) -> dict[str, Any]:
    """The PR, the commenter's role, kfops.yaml on the base branch, and the event of a new comment."""
    fake = github.fake
    fake.add_pull(7, head_sha=SHA)
    fake.set_permission("alice", role)
    if base is not None:
        fake.add_file("kfops.yaml", base, ref="main")
    comment_id = fake.add_comment(7, body)
    payload = event(body)
    payload["comment"]["id"] = comment_id
    payload["comment"]["created_at"] = fake.comments[comment_id]["created_at"]  # the fake's clock, as its pushes
    payload["repository"]["full_name"] = f"{fake.owner}/{fake.repo}"
    return payload


def _bot(github: GitHubEndpoint) -> list[str]:
    return [c["body"] for c in github.fake.comments_on(7) if c["_login"] == github.fake.bot_login]


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


def test_refusal_end_to_end(tmp_path: Path, github: GitHubEndpoint) -> None:
    payload = _comment(github, "/deploy\nship it", base="pipeline: {file: p.py, function: f}\n")
    result = action(tmp_path, payload, api_url=github.url)
    assert result.returncode == 0, result.stderr
    requests = github.fake.requests
    assert (requests[0].method, requests[0].path, requests[0].body) == (
        "POST", f"/repos/kfops-org/model/issues/comments/{payload['comment']['id']}/reactions", {"content": "eyes"})
    [contents] = [r for r in requests if r.path.endswith("/contents/kfops.yaml")]
    assert contents.query == {"ref": ["main"]}
    [reply] = _bot(github)
    assert "@alice cannot run /deploy here: it needs maintain, alice has write." in reply
    assert "kfops.yaml on `main`" in reply
    # then the confused reaction (and a listing: a refused command's queued ticket is settled, queue.py)
    assert [r.body for r in requests[-2:]] == [{"content": "confused"}, None]
    assert "cannot run /deploy" in (tmp_path / "summary.md").read_text()  # the job summary too
    assert "GitHub API: " in result.stderr  # the request count ends the log


def test_maintainer_reported_as_write_by_the_legacy_field_may_deploy(tmp_path: Path, github: GitHubEndpoint) -> None:
    payload = _comment(github, "/deploy", role="maintain")
    result = action(tmp_path, payload, api_url=github.url)
    assert result.returncode == 0, result.stderr
    [reply] = _bot(github)  # allowed: the handler runs, and says what is missing
    assert "### ⛔ `/deploy` refused" in reply
    assert "Not deployed to production: `deployment.production` is not configured in" in reply


def test_outputs_are_written_for_every_command(tmp_path: Path, github: GitHubEndpoint) -> None:
    """command, run-id, run-url, deployed-url and the JSON result, in GITHUB_OUTPUT's file format."""
    payload = _comment(github, "/deploy", role="maintain")
    output = tmp_path / "github_output"
    output.write_text("")
    result = action(tmp_path, payload, api_url=github.url, extra={"GITHUB_OUTPUT": str(output)})
    assert result.returncode == 0, result.stderr
    text = output.read_text()
    values = {name: value for name, _, value in re.findall(r"^(\S+)<<(\S+)\n(.*?)\n\2$", text, re.M | re.S)}
    assert values["command"] == "deploy" and values["run-id"] == "" and values["deployed-url"] == ""
    data = json.loads(values["result"])
    assert (data["command"], data["outcome"], data["state"]) == ("deploy", "not_ready", "refused")
    assert GITHUB_TOKEN not in text


def test_build_without_a_checkout_fails_in_its_status_comment(tmp_path: Path, github: GitHubEndpoint) -> None:
    payload = _comment(github, "/build", base="pipeline: {file: p.py, function: f}\n")
    result = action(tmp_path, payload, api_url=github.url)
    assert result.returncode == 1, result.stderr
    [status] = _bot(github)
    assert "### ❌ `/build` failed on 9f8e7d6c5b4a for @alice" in status
    assert "no kfops.yaml in the checked-out pull request" in status
    assert [r["content"] for r in github.fake.reactions[payload["comment"]["id"]]] == ["eyes", "confused"]
    assert "`/build` failed" in (tmp_path / "summary.md").read_text()


def test_secrets_are_masked_in_the_log_and_never_posted(tmp_path: Path, github: GitHubEndpoint) -> None:
    payload = _comment(github, "/build", base="pipeline: {file: p.py, function: f}\n")
    result = action(tmp_path, payload, api_url=github.url,
                    extra={"GITHUB_ACTIONS": "true", "KF_PIPELINES_TOKEN": KFP_TOKEN,
                           "KF_PIPELINES_COOKIE": "authservice_session=cookie-value-77aa"})
    assert f"::add-mask::{GITHUB_TOKEN}" in result.stdout
    assert f"::add-mask::{KFP_TOKEN}" in result.stdout
    assert "::add-mask::cookie-value-77aa" in result.stdout
    posted = [json.dumps(r.body) for r in github.fake.requests if r.body is not None]
    for secret in (GITHUB_TOKEN, KFP_TOKEN, "cookie-value-77aa"):
        assert all(secret not in text for text in posted)
        assert secret not in result.stderr


def test_schedule_with_nothing_open_sweeps_nothing(tmp_path: Path, github: GitHubEndpoint) -> None:
    result = action(tmp_path, {"schedule": "17 * * * *"}, api_url=github.url, name="schedule")
    assert result.returncode == 0, result.stderr
    assert "kfops: sweep: 0 pull request(s), 0 open run(s)" in result.stderr
    listings = [(r.method, r.path, r.query["state"]) for r in github.fake.requests]
    assert listings == [("GET", "/repos/kfops-org/model/issues", ["open"]),
                        ("GET", "/repos/kfops-org/model/issues", ["closed"])]
    assert "since" in github.fake.requests[1].query


FOLLOWUP_REF = "kfops-org/model/.github/workflows/kfops-followup.yml@refs/heads/main"


def test_a_sweep_that_leaves_nothing_pending_switches_its_schedule_off(tmp_path: Path, github: GitHubEndpoint) -> None:
    """An idle schedule bills a job every time it fires: with nothing pending the sweep switches
    its own workflow off (a hand-over switches it on again) and looks once more, in case a run
    was handed over meanwhile."""
    github.fake.workflows["kfops-followup.yml"] = True
    result = action(tmp_path, {"schedule": "17 * * * *"}, api_url=github.url, name="schedule",
                    extra={"GITHUB_WORKFLOW_REF": FOLLOWUP_REF})
    assert result.returncode == 0, result.stderr
    assert github.fake.workflows == {"kfops-followup.yml": False}
    calls = [(r.method, r.path) for r in github.fake.requests]
    assert calls[2] == ("PUT", "/repos/kfops-org/model/actions/workflows/kfops-followup.yml/disable")
    assert calls[3:] == [("GET", "/repos/kfops-org/model/issues")] * 2  # the second look
    assert "schedule is off until a job hands a run over" in (tmp_path / "summary.md").read_text()


def test_switching_the_schedule_is_best_effort(tmp_path: Path, github: GitHubEndpoint) -> None:
    """A token without `actions: write`: the sweep still succeeds and says how to fix it; a
    manual run (workflow_dispatch) never switches anything."""
    github.fake.workflows_forbidden = True
    result = action(tmp_path, {"schedule": "17 * * * *"}, api_url=github.url, name="schedule",
                    extra={"GITHUB_WORKFLOW_REF": FOLLOWUP_REF})
    assert result.returncode == 0, result.stderr
    assert "could not disable the workflow kfops-followup.yml" in result.stderr
    assert "actions: write" in result.stderr and github.fake.workflows == {}
    github.fake.workflows_forbidden = False
    result = action(tmp_path, {"inputs": {}}, api_url=github.url, name="workflow_dispatch",
                    extra={"GITHUB_WORKFLOW_REF": FOLLOWUP_REF})
    assert result.returncode == 0 and github.fake.workflows == {}


def test_a_run_handed_over_during_the_switch_off_keeps_the_schedule_on() -> None:
    from kfops_action.github.followup import settle_after_sweep

    switched: list[tuple[str, bool]] = []
    env = {"GITHUB_EVENT_NAME": "schedule", "GITHUB_WORKFLOW_REF": FOLLOWUP_REF}

    def switch(workflow: str, enabled: bool) -> bool:
        switched.append((workflow, enabled))
        return True

    assert settle_after_sweep(switch, env, pending=0, count_pending=lambda: 1, log=lambda m: None) is False
    assert switched == [("kfops-followup.yml", False), ("kfops-followup.yml", True)]
    switched.clear()
    assert settle_after_sweep(switch, env, pending=2, count_pending=lambda: 2, log=lambda m: None) is None
    assert switched == []


def test_github_unreachable_fails_the_job_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "event.json").write_text(json.dumps(event("/build")))
    client = GitHubClient(GITHUB_TOKEN, api_url=_dead_url(), sleep=lambda s: None,
                          policy=RetryPolicy(max_attempts=2))
    repo = GitHubRepo(client, Repo("acme", "model"), scrubber=Scrubber([GITHUB_TOKEN]), log=lambda m: None)
    code = action_main.run({"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
                            "GITHUB_WORKSPACE": str(tmp_path)}, github=repo)
    assert code == 1
    err = capsys.readouterr().err
    assert "did not accept GET /repos/acme/model/pulls/7 after 2 attempts" in err and "no answer" in err
    assert "Traceback" not in err


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

        class Status:
            key, url = "1001", None
            def update(self, body, force=False):
                return True
            def adopt(self, record):
                pass

        class Port:
            def add_reaction(self, comment_id, content):
                if content == "eyes":
                    print("AT_ACK", loaded())
            def get_pull(self, number):
                return {pull_json()!r}
            def get_permission(self, user):
                return "write"
            def branch_activity(self, branch):
                return []
            def is_team_member(self, org, team, user):
                return False
            def post_comment(self, number, body):
                pass
            def status_comment(self, issue, key, resume=False):
                return Status()
            def status_comments(self, issue):
                return []
            def set_status(self, sha, **kw):
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


def test_follow_minutes_input() -> None:
    assert action_main.follow_policy({}).minutes == 300
    assert action_main.follow_policy({"INPUT_FOLLOW-MINUTES": "45"}).minutes == 45
    assert action_main.follow_policy({"INPUT_FOLLOW-MINUTES": "90", "INPUT_WAIT": "false"}).minutes == 0
    for bad in ("soon", "-5", "nan"):
        with pytest.raises(ValueError, match="follow-minutes"):
            action_main.follow_policy({"INPUT_FOLLOW-MINUTES": bad})


def test_console_script_is_declared() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert 'kfops-action = "kfops_action.action_main:main"' in text
