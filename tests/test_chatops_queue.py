"""Issue 14, item 4: anyone who may comment could displace a queued authorized command.

GitHub keeps one waiting job per concurrency group and cancels the older waiting one. When the
heavy jobs' `if:` looked only at the comment's prefix, a read-only user's `/deploy` entered the
production group and cancelled a maintainer's waiting deploy, and a third pipeline command
silently dropped the second. Now the workflow's `authorize` job (`stage: accept`, no concurrency
group) lets only accepted commands into a group, each accepted command's status comment says
"queued" and what it waits behind, and a heavy job runs (pipeline) or reports (deploy) what GitHub
displaced from its group. See kfops_action/chatops/queue.py and docs/security.md.

The accept stage runs as GitHub runs it (`python -m kfops_action`, a subprocess); the heavy jobs
run through the same entry point (action_main.run) in-process, with the real handlers against the
fake KFP. GitHub itself is the fake GitHub, reached directly and through Prism.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.action_flow import NUMBER, PullRequest, make_checkout
from fakes.github_prism import GITHUB_TOKEN, GitHubEndpoint, github  # noqa: F401

from kfops_action import action_main
from kfops_action.chatops.handlers import command_handlers
from kfops_action.chatops.queue import Ticket
from kfops_action.chatops.runs import runs_in
from kfops_action.github.render import read_state_marker
from kfops_action.github.status_comment import parse_header

ROOT = Path(__file__).resolve().parents[1]
OTHER_PR = 8


@pytest.fixture
def pr(github: GitHubEndpoint, fake_kfp: Any, tmp_path: Path) -> PullRequest:
    checkout, head = make_checkout(tmp_path)
    pull = PullRequest(github, fake_kfp.url, fake_kfp.token, checkout, head, summary=tmp_path / "summary.md")
    github.fake.set_permission("mona", "maintain")
    github.fake.set_permission("max", "maintain")
    return pull


def _outputs(path: Path) -> dict[str, str]:
    """$GITHUB_OUTPUT as the runner reads it (`name<<DELIMITER` blocks, or `name=value`)."""
    found: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        name, sep, delimiter = lines[i].partition("<<")
        if sep:
            end = lines.index(delimiter, i + 1)
            found[name] = "\n".join(lines[i + 1:end])
            i = end + 1
        else:
            key, _, value = lines[i].partition("=")
            found[key] = value
            i += 1
    return found


def _event_file(pr: PullRequest, tmp_path: Path, comment_id: int, number: int = NUMBER) -> Path:
    comment = pr.fake.comments[comment_id]
    payload = pr.payload(comment_id, comment["body"], comment["_login"])
    payload["issue"]["number"] = number
    path = tmp_path / f"event-{comment_id}.json"
    path.write_text(json.dumps(payload))
    return path


def _env(pr: PullRequest, tmp_path: Path, comment_id: int, run_id: int, stage: str,
         number: int = NUMBER) -> dict[str, str]:
    out = tmp_path / f"output-{comment_id}-{stage}"
    out.unlink(missing_ok=True)
    return {"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(_event_file(pr, tmp_path, comment_id, number)),
            "GITHUB_REPOSITORY": f"{pr.fake.owner}/{pr.fake.repo}", "GITHUB_API_URL": pr.github.url,
            "GITHUB_WORKSPACE": str(pr.checkout), "INPUT_GITHUB_TOKEN": GITHUB_TOKEN, "GITHUB_RUN_ID": str(run_id),
            "INPUT_STAGE": stage, "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "KF_PIPELINES_TOKEN": pr.kfp_token}


def authorize_job(pr: PullRequest, tmp_path: Path, comment_id: int, run_id: int,
                  number: int = NUMBER) -> tuple[dict[str, str], str]:
    """The workflow's authorize job: `python -m kfops_action` with `stage: accept`, as GitHub runs
    it; its outputs, and the modules it imported (`-X importtime`)."""
    github_run = pr.fake.workflow_runs.setdefault(run_id, {"status": "in_progress", "conclusion": None})
    assert github_run
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "KF_PIPELINES"))}
    env.update(_env(pr, tmp_path, comment_id, run_id, "accept", number), PYTHONPROFILEIMPORTTIME="1")
    done = subprocess.run([sys.executable, "-m", "kfops_action"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return _outputs(Path(env["GITHUB_OUTPUT"])), done.stderr


def heavy_job(pr: PullRequest, tmp_path: Path, comment_id: int, run_id: int, number: int = NUMBER) -> int:
    """A pipeline or deploy job of the workflow (`stage: run`), started by GitHub from its group."""
    env = _env(pr, tmp_path, comment_id, run_id, "run", number)
    env.pop("INPUT_STAGE")  # the heavy jobs do not set it: `run` is the default
    return action_main.run(env, github=pr.repo, base_config=lambda ref: pr.repo.get_file_text("kfops.yaml", ref),
                           handlers=command_handlers(pr.workspace()))


def cancel_waiting_job(pr: PullRequest, run_id: int) -> None:
    """What GitHub does to the older waiting job of a concurrency group when another arrives."""
    pr.fake.add_workflow_run(run_id, status="completed", conclusion="cancelled")


def ticket_of(pr: PullRequest, comment_id: int, number: int = NUMBER) -> Ticket | None:
    [record] = [r for r in pr.repo.status_comments(number) if r.key == str(comment_id)]
    return Ticket.from_data(record.data)


def title_of(pr: PullRequest, comment_id: int, number: int = NUMBER) -> str:
    parts = [c["body"] for c in pr.fake.comments_on(number) if c["_login"] == pr.fake.bot_login
             and (parse_header(c["body"]) or ("",))[0] == str(comment_id)]
    assert parts, f"no status comment for {comment_id}"
    return "\n".join(parts)


# -- the authorize job --------------------------------------------------------------------------


def test_an_accepted_command_is_queued_with_what_it_waits_behind(pr: PullRequest, tmp_path: Path) -> None:
    first = pr.fake.add_comment(NUMBER, "/build_run", user="alice")
    outputs, imports = authorize_job(pr, tmp_path, first, 501)
    assert outputs["job"] == "pipeline" and outputs["environment"] == ""
    status = title_of(pr, first)
    assert "queued" in status.lower() and "Nothing is ahead of it" in status
    ticket = ticket_of(pr, first)
    assert ticket is not None and (ticket.command, ticket.requested_by, ticket.workflow_run) == ("build_run", "alice", 501)
    assert ticket.sha == pr.head
    loaded = set(re.findall(r"\| +([\w.]+)$", imports, re.M))
    assert not {m for m in loaded if m.split(".")[0] in ("kfp", "kfp_server_api", "kubernetes")}

    second = pr.fake.add_comment(NUMBER, "/run --set pipeline.parameters.epochs=2", user="bob")
    outputs, _ = authorize_job(pr, tmp_path, second, 502)
    assert outputs["job"] == "pipeline"
    assert "Queued behind /build_run by @alice on #7 (queued)" in title_of(pr, second)


def test_a_comment_that_may_not_run_the_command_gets_no_job(pr: PullRequest, tmp_path: Path) -> None:
    """The attack's first half: rita (read) and bob (write, not maintain) get refusals from the
    authorize job, and no job output: neither enters a concurrency group."""
    for user, body in (("rita", "/build_run"), ("rita", "/deploy"), ("bob", "/deploy")):
        comment = pr.fake.add_comment(NUMBER, body, user=user)
        outputs, _ = authorize_job(pr, tmp_path, comment, 700 + comment)
        assert outputs["job"] == "none", (user, body)
        assert f"@{user} cannot run {body}" in pr.fake.bodies(NUMBER)[-1]
        assert not [r for r in pr.repo.status_comments(NUMBER) if r.key == str(comment)]
        assert "confused" in pr.reactions(comment)
    near = pr.fake.add_comment(NUMBER, "/depoly", user="rita")
    assert authorize_job(pr, tmp_path, near, 801)[0]["job"] == "none"
    status = pr.fake.add_comment(NUMBER, "/status", user="rita")
    assert authorize_job(pr, tmp_path, status, 802)[0]["job"] == "chat"


def test_a_deploy_is_routed_to_its_environment(pr: PullRequest, tmp_path: Path) -> None:
    comment = pr.fake.add_comment(NUMBER, "/staging_deploy", user="bob")
    outputs, _ = authorize_job(pr, tmp_path, comment, 901)
    assert (outputs["job"], outputs["environment"]) == ("deploy", "staging")
    assert ticket_of(pr, comment) is not None


def test_a_stage_that_is_neither_is_a_usage_error(pr: PullRequest, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    comment = pr.fake.add_comment(NUMBER, "/build_run", user="alice")
    before = len(pr.fake.requests)
    assert action_main.run(_env(pr, tmp_path, comment, 1, "acept"), github=pr.repo) == action_main.EXIT_USAGE
    assert "input stage must be accept or run, not 'acept'" in capsys.readouterr().err
    assert len(pr.fake.requests) == before  # nothing was answered, nothing queued


# -- the heavy jobs -----------------------------------------------------------------------------


def test_a_displaced_pipeline_command_still_runs(pr: PullRequest, tmp_path: Path, fake_kfp: Any) -> None:
    """The attack's second half, for the per-PR pipeline group: while one command runs, alice's
    /build_run waits; bob's /build_run arrives and GitHub cancels alice's waiting job. Bob's job
    runs alice's command first (read again from her comment, authorized again), then his."""
    alice = pr.fake.add_comment(NUMBER, "/build_run", user="alice")
    assert authorize_job(pr, tmp_path, alice, 501)[0]["job"] == "pipeline"
    bob = pr.fake.add_comment(NUMBER, "/build_run --set pipeline.parameters.epochs=2", user="bob")
    assert authorize_job(pr, tmp_path, bob, 502)[0]["job"] == "pipeline"
    rita = pr.fake.add_comment(NUMBER, "/build_run", user="rita")
    assert authorize_job(pr, tmp_path, rita, 503)[0]["job"] == "none"
    cancel_waiting_job(pr, 501)

    assert heavy_job(pr, tmp_path, bob, 502) == 0
    runs = {s.key: r for s, r in runs_in(pr.repo.status_comments(NUMBER))}
    assert set(runs) == {str(alice), str(bob)}
    assert (runs[str(alice)].requested_by, runs[str(bob)].requested_by) == ("alice", "bob")
    assert runs[str(alice)].succeeded and runs[str(bob)].succeeded
    assert runs[str(alice)].run_id != runs[str(bob)].run_id
    assert "rocket" in pr.reactions(alice) and "rocket" in pr.reactions(bob)
    assert ticket_of(pr, alice) is None and ticket_of(pr, bob) is None  # both reports replaced their tickets


def test_a_queued_command_whose_job_is_still_coming_is_left_to_it(pr: PullRequest, tmp_path: Path) -> None:
    """alice's authorize job finished after bob's: her job is still waiting, not displaced.
    Bob's job leaves her ticket alone; her own job runs it."""
    alice = pr.fake.add_comment(NUMBER, "/build --dry-run", user="alice")
    authorize_job(pr, tmp_path, alice, 501)
    bob = pr.fake.add_comment(NUMBER, "/build --dry-run", user="bob")
    authorize_job(pr, tmp_path, bob, 502)
    assert heavy_job(pr, tmp_path, bob, 502) == 0
    assert ticket_of(pr, alice) is not None and ticket_of(pr, alice).phase == "queued"  # type: ignore[union-attr]
    assert heavy_job(pr, tmp_path, alice, 501) == 0
    assert ticket_of(pr, alice) is None and "queued" not in title_of(pr, alice).splitlines()[1].lower()


def test_a_displaced_command_refused_when_its_turn_comes_says_so(pr: PullRequest, tmp_path: Path) -> None:
    """Taken over means authorized again: alice lost write access while she waited."""
    alice = pr.fake.add_comment(NUMBER, "/build --dry-run", user="alice")
    authorize_job(pr, tmp_path, alice, 501)
    bob = pr.fake.add_comment(NUMBER, "/build --dry-run", user="bob")
    authorize_job(pr, tmp_path, bob, 502)
    cancel_waiting_job(pr, 501)
    pr.fake.set_permission("alice", "read")
    assert heavy_job(pr, tmp_path, bob, 502) == 0
    assert "Not run (denied)" in title_of(pr, alice)
    assert ticket_of(pr, alice).phase == "not_run"  # type: ignore[union-attr]
    assert any("@alice cannot run /build" in b for b in pr.fake.bodies(NUMBER))


def test_a_displaced_deploy_is_told_it_was_replaced(pr: PullRequest, tmp_path: Path) -> None:
    """The production group spans the repository: mona's /deploy on #7 waits, max's /deploy on
    #8 arrives, GitHub cancels mona's waiting job. Max's job does not deploy #7 under its own
    approval: it says, on #7, that mona's deploy was replaced and to comment again."""
    pr.fake.add_pull(OTHER_PR, head_sha=pr.head)
    mona = pr.fake.add_comment(NUMBER, "/deploy", user="mona")
    assert authorize_job(pr, tmp_path, mona, 601)[0]["environment"] == "production"
    max_ = pr.fake.add_comment(OTHER_PR, "/deploy", user="max")
    outputs, _ = authorize_job(pr, tmp_path, max_, 602, number=OTHER_PR)
    assert (outputs["job"], outputs["environment"]) == ("deploy", "production")
    assert "Queued behind /deploy by @mona on #7 (queued)" in title_of(pr, max_, OTHER_PR)
    cancel_waiting_job(pr, 601)

    heavy_job(pr, tmp_path, max_, 602, number=OTHER_PR)
    told = title_of(pr, mona)
    assert "Replaced: GitHub cancelled its waiting job" in told and "/deploy on #8 by @max" in told
    assert "Comment `/deploy` again to run it" in told
    assert ticket_of(pr, mona).phase == "replaced"  # type: ignore[union-attr]
    assert "confused" in pr.reactions(mona)
    assert ticket_of(pr, max_, OTHER_PR) is None  # max's own deploy went on (its report replaced the ticket)


# -- the workflow -------------------------------------------------------------------------------


def _jobs(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"]


@pytest.mark.parametrize("path", [ROOT / "workflows" / "kfops.yml",
                                  ROOT / "kfops_action" / "onboarding" / "templates" / "kfops.yml"])
def test_only_the_authorize_job_looks_at_the_comment(path: Path) -> None:
    jobs = _jobs(path)
    authorize = jobs["authorize"]
    assert "concurrency" not in authorize and "environment" not in authorize and "needs" not in authorize
    assert authorize["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert [s.get("with", {}).get("stage") for s in authorize["steps"]] == ["accept"]
    assert set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(authorize))) == {"GITHUB_TOKEN"}
    assert authorize["outputs"] == {"job": "${{ steps.kfops.outputs.job }}",
                                    "environment": "${{ steps.kfops.outputs.environment }}"}
    for name in ("pipeline", "deploy", "chat"):
        job = jobs[name]
        assert job["needs"] == "authorize" and job["if"] == f"needs.authorize.outputs.job == '{name}'"
        assert "github.event.comment" not in yaml.safe_dump(job), name  # nothing routes on the comment text
    environment = "needs.authorize.outputs.environment || 'production'"   # a name kfops checked
    assert jobs["deploy"]["environment"]["name"] == "${{ %s }}" % environment
    assert jobs["deploy"]["concurrency"]["group"] == "kfops-deploy-${{ %s }}" % environment
    assert jobs["deploy"]["permissions"]["actions"] == "read"  # whether a displaced deploy's run ended


def test_doctor_names_each_job_by_what_it_runs() -> None:
    """`kfc doctor` reads the jobs' roles from the authorize job's outputs they run on."""
    from kfops_action.onboarding.checks.workflow import _workflow

    workflow = yaml.safe_load((ROOT / "workflows" / "kfops.yml").read_text(encoding="utf-8"))
    found = {r.message.split(" (")[0].rsplit(" ", 1)[-1]: (r.verdict, r.message) for r in _workflow(workflow, "kfops.yml")}
    assert set(found) == {"authorize", "pipeline", "deploy", "chat"}
    assert "(/build, /run, /build_run)" in found["pipeline"][1] and "(/deploy, /staging_deploy" in found["deploy"][1]
    assert "(every command: who may run it)" in found["authorize"][1]
    assert {verdict for verdict, _ in found.values()} == {"ok"}
