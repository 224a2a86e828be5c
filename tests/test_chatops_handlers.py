"""/build_run and friends from a PR comment to the final report, as the PR shows it.

The real dispatcher and handlers, the example pipeline compiled by the real kfp compiler in a git
checkout at the pinned head, the fake KFP held to KFP's contract (directly and through Prism with
KFP's API description), and the fake GitHub (directly and through Prism with GitHub's). Each test
asserts what a user sees: one status comment per command, edited to its final state, reactions,
the kfops/run commit status, and no token anywhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.action_flow import NUMBER, PullRequest, base_text, git, make_checkout
from fakes.github_prism import GITHUB_TOKEN, GitHubEndpoint, github  # noqa: F401
from fakes.mlmd_fake import FakeMlmd
from fakes.recording_docker import DIR_ENV, RecordingDocker

from kfops_action.chatops import dispatch as d
from kfops_action.chatops.handlers import Workspace, command_config, command_handlers
from kfops_action.chatops.runs import RunRecord, latest_successful, runs_in
from kfops_action.chatops.tracking import FollowPolicy, finish_open_runs


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, str]:
    return make_checkout(tmp_path)


def make_pr(github: GitHubEndpoint, kfp_url: str, token: str, checkout: tuple[Path, str], tmp_path: Path,
            **kw: Any) -> PullRequest:
    return PullRequest(github, kfp_url, token, checkout[0], checkout[1], summary=tmp_path / "summary.md", **kw)


@pytest.fixture
def pr(github: GitHubEndpoint, fake_kfp: Any, checkout: tuple[Path, str], tmp_path: Path) -> PullRequest:
    """The PR against the fake KFP reached directly (KFP through Prism: the kfp_endpoint tests)."""
    return make_pr(github, fake_kfp.url, fake_kfp.token, checkout, tmp_path)


def record_of(pr: PullRequest, comment_id: int | None = None) -> RunRecord:
    """The provenance record in the invocation's status comment, read as /deploy will read it:
    only from comments the action's identity wrote."""
    key = str(comment_id or pr.last_comment)
    [run] = [r for s, r in runs_in(pr.repo.status_comments(NUMBER)) if s.key == key]
    return run


def one_status_comment(pr: PullRequest, comment_id: int | None = None) -> str:
    """Exactly one comment for the invocation (no duplicates); its body."""
    key = f"kfops:status key={comment_id or pr.last_comment} "
    mine = [c for c in pr.bot_comments() if key in c["body"][:200]]
    assert len(mine) == 1, [c["body"][:120] for c in mine]
    return str(mine[0]["body"])


def nothing_leaked(pr: PullRequest, *secrets: str) -> None:
    sent = [json.dumps(r.body) for r in pr.fake.requests if r.body is not None]
    texts = sent + pr.logs + [pr.summary.read_text() if pr.summary.exists() else ""]
    for secret in (GITHUB_TOKEN, pr.kfp_token, *secrets):
        assert all(secret not in text for text in texts), secret


# -- the whole path ---------------------------------------------------------------------------------


def test_build_run_from_comment_to_final_report(github: GitHubEndpoint, fake_kfp: Any, kfp_endpoint: str,
                                                checkout: tuple[Path, str], tmp_path: Path) -> None:
    """Against both fakes, each directly and through Prism (four combinations)."""
    fake_kfp.tasks = ["prepare-data", "train"]
    fake_kfp.task_outputs = {"train": {"model": ["42"], "metrics": ["43"]}}
    fake_kfp.run_states = ["PENDING", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"]
    pr = make_pr(github, kfp_endpoint, fake_kfp.token, checkout, tmp_path)
    outcome = pr.comment("/build_run --set pipeline.parameters.epochs=5\n\ntry fewer epochs")
    assert outcome.outcome == d.SUCCEEDED and outcome.exit_code == 0, pr.logs
    body = one_status_comment(pr)
    head = pr.head
    assert f"### ✅ `/build_run` succeeded on {head[:12]} for @alice" in body
    [run] = fake_kfp.runs.values()
    run_id = run.body["run_id"]
    assert f"**Run:** [quickstart-classifier-pr7-{head[:7]}-" in body and f"/#/runs/details/{run_id})" in body
    assert "| `epochs` | `5` | yes |" in body and "| `learning_rate` | `0.1` |  |" in body
    assert "| `prepare-data` | succeeded |  |" in body and "| `train` | succeeded |  |" in body
    assert "**Durations:** build " in body and ", run " in body
    # no ML Metadata behind this Kubeflow: the report says so, and the command still succeeds
    assert "### Metrics\n\nNo metrics could be read for this run." in body
    assert "No metrics could be read for this run." in pr.summary.read_text()
    assert pr.reactions() == ["eyes", "rocket"]
    assert pr.commit_states() == ["success", "pending"]  # newest first
    assert pr.fake.statuses[head][0]["context"] == "kfops/run"
    assert pr.fake.statuses[head][0]["target_url"].endswith(f"/#/runs/details/{run_id}")
    # what ran is what the PR shows, and is recorded for /deploy
    assert run.body["runtime_config"]["parameters"]["epochs"] == 5
    record = record_of(pr)
    [version] = fake_kfp.versions.values()
    assert (record.sha, record.run_id, record.state, record.requested_by) == (head, run_id, "SUCCEEDED", "alice")
    assert record.pipeline["version_id"] == version["pipeline_version_id"]
    assert record.pipeline["version_name"].startswith(head[:7])
    assert record.artifacts == {"train": {"metrics": ["43"], "model": ["42"]}} and record.model_uri is None
    assert latest_successful([record], sha=head) == record
    # cheap for GitHub: created once, edited as the state changed, never posted twice
    assert pr.edits() <= 4
    assert "`/build_run` succeeded" in pr.summary.read_text()
    nothing_leaked(pr)


def test_successful_run_report_shows_its_metrics_table_and_chart(github: GitHubEndpoint, fake_kfp: Any,
                                                                 checkout: tuple[Path, str], tmp_path: Path) -> None:
    """The run's metrics, read from ML Metadata as KFP's launcher publishes them, in the final
    report and the job summary; no cluster credentials, so no production baseline."""
    fake_kfp.tasks = ["prepare-data", "train", "evaluate"]
    fake_kfp.run_states = ["PENDING", "RUNNING", "SUCCEEDED"]
    with FakeMlmd(token=fake_kfp.token) as mlmd:
        data = yaml.safe_load(base_text(fake_kfp.url))
        data["metrics"]["mlmd_endpoint"] = mlmd.url  # the base branch says where ML Metadata is
        pr = make_pr(github, fake_kfp.url, fake_kfp.token, checkout, tmp_path, base=yaml.safe_dump(data))
        seeded: set[str] = set()

        def publish(_now: float) -> None:  # the launcher publishes the metrics while the run goes on
            for run_id in set(fake_kfp.runs) - seeded:
                seeded.add(run_id)
                mlmd.store.seed({"runs": [{"run_id": run_id, "pipeline": "quickstart-classifier", "tasks": [
                    {"name": "train", "model": True},
                    {"name": "evaluate", "metrics": {"metrics": {"accuracy": 0.91, "log_loss": 0.27}}}]}]})

        pr.clock.on_sleep = publish
        outcome = pr.comment("/build_run")
    assert outcome.outcome == d.SUCCEEDED, pr.logs
    assert seeded
    body = one_status_comment(pr)
    assert "### ✅ `/build_run` succeeded" in body
    section = body[body.index("### Metrics"):]
    assert "No baseline to compare with · read from ML Metadata." in section
    assert "| Task | Metric | Value |" in section
    assert "| evaluate | **accuracy** | 0.91 |" in section and "| evaluate | log\\_loss | 0.27 |" in section
    assert "```mermaid\nxychart-beta" in section and "bar [0.91, 0.27]" in section
    assert "- the production model\\: not configured" in section  # no kubeconfig: no production baseline
    assert body.index("| `train` | succeeded |  |") < body.index("### Metrics")  # after the tasks
    summary = pr.summary.read_text()
    assert "| evaluate | **accuracy** | 0.91 |" in summary and "```mermaid" in summary
    nothing_leaked(pr)


def test_dry_run_compiles_and_checks_parameters_offline(github: GitHubEndpoint, checkout: tuple[Path, str],
                                                        tmp_path: Path) -> None:
    pr = make_pr(github, "http://127.0.0.1:9", "unused-token", checkout, tmp_path)
    outcome = pr.comment("/build_run --dry-run --set pipeline.parameters.epochs=5")
    assert outcome.outcome == d.SUCCEEDED, pr.logs
    body = one_status_comment(pr)
    assert "Dry run: pipeline `quickstart-classifier` compiles" in body and "nothing was built, uploaded or run" in body
    assert "| `epochs` | `5` | yes |" in body
    assert pr.edits() == 1 and pr.commit_states() == []


def test_build_uploads_a_version_and_records_it(pr: PullRequest, fake_kfp: Any) -> None:
    outcome = pr.comment("/build")
    assert outcome.outcome == d.SUCCEEDED, pr.logs
    body = one_status_comment(pr)
    [version] = fake_kfp.versions.values()
    assert f"**Version id:** `{version['pipeline_version_id']}`" in body and "**Uploaded:** `yes`" in body
    assert fake_kfp.runs == {} and pr.commit_states() == []
    [state] = [s.data for s in pr.repo.status_comments(NUMBER)]
    assert state["kind"] == "build" and state["pipeline"]["version_id"] == version["pipeline_version_id"]
    pr.comment("/build")  # the same commit again: reused, not uploaded twice
    assert "**Uploaded:** `no: this version was already there`" in one_status_comment(pr)
    assert len(fake_kfp.versions) == 1


# -- bad input ----------------------------------------------------------------------------------------


def test_pipeline_that_does_not_compile_points_at_the_file_and_line(
        github: GitHubEndpoint, fake_kfp: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def break_it(repo: Path) -> None:
        source = (repo / "pipeline.py").read_text().splitlines()
        line.append(len(source) + 1)
        (repo / "pipeline.py").write_text("\n".join(source + ["def broken(:"]) + "\n")

    line: list[int] = []

    checkout = make_checkout(tmp_path, break_it)
    pr = make_pr(github, fake_kfp.url, fake_kfp.token, checkout, tmp_path)
    outcome = pr.comment("/build_run")
    assert outcome.outcome == d.FAILED and outcome.exit_code == 1
    body = one_status_comment(pr)
    assert "### ❌ `/build_run` failed" in body
    assert f"pipeline.py has a syntax error: pipeline.py:{line[0]}:" in body  # relative: no runner path
    assert str(tmp_path) not in body
    assert f"file=pipeline.py,line={line[0]},col=12::invalid syntax" in capsys.readouterr().out  # annotated
    assert fake_kfp.versions == {} and fake_kfp.runs == {}
    assert pr.commit_states() == ["failure"] and pr.reactions() == ["eyes", "confused"]


def test_unknown_parameter_from_the_comment_runs_nothing(pr: PullRequest, fake_kfp: Any) -> None:
    outcome = pr.comment("/build_run --set pipeline.parameters.lerning_rate=1")
    assert outcome.outcome == d.FAILED
    body = one_status_comment(pr)
    assert "unknown parameter 'lerning_rate' (did you mean 'learning_rate'?)" in body
    assert fake_kfp.runs == {} and fake_kfp.versions == {}
    assert pr.commit_states() == ["failure"]


def test_checkout_not_at_the_pinned_head_is_refused(pr: PullRequest, fake_kfp: Any) -> None:
    git("commit", "-q", "--allow-empty", "-m", "pushed after the comment", cwd=pr.checkout)
    outcome = pr.comment("/run")
    assert outcome.outcome == d.FAILED
    body = one_status_comment(pr)
    assert f"not at the pull request head {pr.head[:7]}" in body and "refs/pull/&lt;number&gt;/head" not in body
    assert fake_kfp.requests == []


def test_image_build_failure_shows_the_cause_and_the_end_of_the_log(
        github: GitHubEndpoint, fake_kfp: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def with_image(repo: Path) -> None:
        (repo / "Dockerfile").write_text("FROM python:3.11-slim\nRUN pip install nothing-here\n")
        text = (repo / "kfops.yaml").read_text().replace(
            "images:\n  builder: none\n", "images:\n  builder: docker\n  registry: registry.example/acme\n"
                                          "  build:\n    - name: trainer\n")
        (repo / "kfops.yaml").write_text(text)

    docker = RecordingDocker(tmp_path / "docker-state")
    docker.install(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv(DIR_ENV, str(docker.state))
    log = "\n".join(f"#{i} step {i}" for i in range(1, 60)) + "\nERROR: No matching distribution found for nothing-here"
    docker.rules({"when": ["imagetools", "inspect"], "exit": 1, "output": "ERROR: not found"},
                 {"when": ["buildx", "build", "/trainer:"], "exit": 1, "output": log})
    pr = make_pr(github, fake_kfp.url, fake_kfp.token, make_checkout(tmp_path, with_image), tmp_path)
    outcome = pr.comment("/build_run")
    assert outcome.outcome == d.FAILED
    body = one_status_comment(pr)
    assert "**Error:** 1 of 1 image build(s) failed: trainer" in body
    assert "ERROR: No matching distribution found for nothing-here" in body  # folded under Details
    assert any("buildx" in argv for argv in docker.argvs())
    assert fake_kfp.runs == {} and pr.commit_states() == ["failure"]


@pytest.mark.parametrize("github", ["direct"], indirect=True)
@pytest.mark.parametrize(("status", "says"), [
    (401, "rejected the credentials (HTTP 401)"),
    (403, "HTTP 403"),
    (404, "not found (HTTP 404)"),
    (503, "HTTP 503"),
])
def test_kubeflow_refusing_or_failing(github: GitHubEndpoint, fake_kfp: Any, kfp_endpoint: str,
                                      checkout: tuple[Path, str], tmp_path: Path, status: int, says: str) -> None:
    pr = make_pr(github, kfp_endpoint, fake_kfp.token, checkout, tmp_path)
    fake_kfp.deny(status, f"denied: token {fake_kfp.token} is not welcome")
    outcome = pr.comment("/build_run")
    assert outcome.outcome == d.FAILED
    body = one_status_comment(pr)
    assert "### ❌ `/build_run` failed" in body and says in body and "How to fix:" in body
    assert pr.commit_states() == ["failure"] and fake_kfp.runs == {}
    nothing_leaked(pr)


# -- how runs end -------------------------------------------------------------------------------------


def test_failed_run_names_the_task_and_kfps_reason(pr: PullRequest, fake_kfp: Any) -> None:
    fake_kfp.tasks = ["prepare-data", "train", "evaluate"]
    fake_kfp.fail_task("train", "OOMKilled: the container used more than 2Gi")
    outcome = pr.comment("/build_run")
    assert outcome.outcome == d.FAILED and outcome.exit_code == 1
    body = one_status_comment(pr)
    assert "### ❌ `/build_run` failed" in body
    assert "**Error:** task train failed: OOMKilled: the container used more than 2Gi" in body
    assert "| `prepare-data` | succeeded |  |" in body and "| `train` | failed | `OOMKilled" in body
    assert pr.commit_states() == ["failure", "pending"] and pr.reactions() == ["eyes", "confused"]
    assert record_of(pr).state == "FAILED"


def test_run_canceled_in_kubeflow(pr: PullRequest, fake_kfp: Any) -> None:
    fake_kfp.run_states = ["PENDING", "RUNNING", "CANCELED"]
    outcome = pr.comment("/run")
    assert outcome.outcome == d.FAILED
    assert "### ⏹️ `/run` canceled" in one_status_comment(pr)
    assert pr.commit_states() == ["error", "pending"]


def test_run_that_outlasts_the_job_is_handed_over_then_finished_by_the_schedule(pr: PullRequest,
                                                                               fake_kfp: Any) -> None:
    fake_kfp.run_states = ["PENDING", "RUNNING"]  # never ends while the job follows
    pr.follow = FollowPolicy(minutes=30, poll_seconds=10, max_poll_seconds=60)
    outcome = pr.comment("/build_run")
    assert outcome.outcome == d.HANDED_OVER and outcome.exit_code == 0
    command = pr.last_comment
    body = one_status_comment(pr)
    assert "### 🏃 `/build_run` running" in body and "Followed for 30m 00s" in body
    assert "the scheduled kfops workflow" in body
    assert pr.commit_states() == ["pending"] and pr.reactions() == ["eyes"]
    assert sum(pr.clock.sleeps) == pytest.approx(1800)
    assert max(pr.clock.sleeps) <= 60  # adaptive polling, capped
    record = record_of(pr)
    assert record.open and record.handed_over
    assert pr.fake.workflows == {"kfops-followup.yml": True}  # the follow-up's schedule is on

    [run] = fake_kfp.runs.values()
    run.script, run.step = ["SUCCEEDED"], 0  # the run ends after the job
    sweep = finish_open_runs(pr.repo, base_config=lambda ref: pr.repo.get_file_text("kfops.yaml", ref),
                             config_path="kfops.yaml", env=pr.env, base_dir=pr.checkout, add_secret=pr.repo.scrubber.add,
                             log=pr.logs.append)
    assert (sweep.open_runs, sweep.finished, sweep.errors) == (1, 1, [])
    body = one_status_comment(pr, command)  # the same comment, edited
    assert "### ✅ `/build_run` succeeded" in body and "Followed for" not in body
    assert pr.commit_states() == ["success", "pending"]
    assert pr.reactions(command) == ["eyes", "rocket"]
    assert not record_of(pr, command).open
    again = finish_open_runs(pr.repo, base_config=lambda ref: pr.repo.get_file_text("kfops.yaml", ref),
                             config_path="kfops.yaml", env=pr.env, base_dir=pr.checkout,
                             add_secret=pr.repo.scrubber.add, log=pr.logs.append)
    assert again.open_runs == 0  # nothing left to finish


def test_a_run_of_a_pr_closed_meanwhile_is_still_finished(pr: PullRequest, fake_kfp: Any) -> None:
    fake_kfp.run_states = ["PENDING", "RUNNING"]
    pr.follow = FollowPolicy(minutes=0)
    pr.comment("/build_run")
    [run] = fake_kfp.runs.values()
    run.script, run.step = ["FAILED"], 0
    pr.fake.pulls[NUMBER].state = "closed"  # merged or closed while the run went on
    sweep = finish_open_runs(pr.repo, base_config=lambda ref: pr.repo.get_file_text("kfops.yaml", ref),
                             config_path="kfops.yaml", env=pr.env, base_dir=pr.checkout, add_secret=pr.repo.scrubber.add,
                             log=pr.logs.append)
    assert (sweep.pulls, sweep.finished) == (1, 1)
    assert "### ❌ `/build_run` failed" in one_status_comment(pr)
    assert pr.commit_states() == ["failure", "pending"]


def test_following_costs_github_little(pr: PullRequest, fake_kfp: Any) -> None:
    """Tasks change on every KFP read for an hour; the status comment is edited on run-state
    changes and, for task changes, at most once per edit gap (90 s, growing to 15 min).
    (benchmarks/bench_action.py measures the same over hours, without HTTP.)"""
    fake_kfp.run_states = ["PENDING"] + ["RUNNING"] * 2000
    fake_kfp.tasks = [f"step-{i}" for i in range(5)]
    pr.follow = FollowPolicy(minutes=60, poll_seconds=20, max_poll_seconds=60)
    flip = {"n": 0}

    def tasks_move(now: float) -> None:  # a different task set on every read: always "changed"
        flip["n"] += 1
        for run in fake_kfp.runs.values():
            run.tasks = [f"step-{i}" for i in range(flip["n"] % 5 + 1)]

    pr.clock.on_sleep = tasks_move
    before = len(pr.fake.requests)
    outcome = pr.comment("/run")
    assert outcome.outcome == d.HANDED_OVER
    polls = len(fake_kfp.requests_to("GET", f"/runs/{next(iter(fake_kfp.runs))}"))
    assert polls >= 170  # KFP read every 20 s: changes keep the interval short
    edits = pr.edits()
    assert edits <= 20, edits  # GitHub's share of an hour of following
    assert len(pr.fake.requests) - before < 35


# -- one run at a time, /cancel, /status --------------------------------------------------------------


def test_a_second_run_while_one_is_active_is_refused_then_allowed_once_it_ended(pr: PullRequest,
                                                                               fake_kfp: Any) -> None:
    fake_kfp.run_states = ["PENDING", "RUNNING"]
    pr.follow = FollowPolicy(minutes=0)
    assert pr.comment("/build_run").outcome == d.HANDED_OVER
    first = pr.last_comment
    [run] = fake_kfp.runs.values()
    outcome = pr.comment("/run --set pipeline.parameters.epochs=3", user="bob")
    assert outcome.outcome == d.NOT_READY and outcome.exit_code == 0
    body = one_status_comment(pr)
    assert "### ⛔ `/run` refused" in body and "Not started: run [quickstart-classifier-pr7-" in body
    assert "by @alice" in body and "`/cancel` it" in body
    assert len(fake_kfp.runs) == 1 and pr.reactions() == ["eyes", "confused"]

    run.script, run.step = ["FAILED"], 0  # meanwhile it ended
    fake_kfp.run_states = ["PENDING", "RUNNING", "SUCCEEDED"]
    pr.follow = FollowPolicy(minutes=10)
    outcome = pr.comment("/run", user="bob")
    assert outcome.outcome == d.SUCCEEDED, pr.logs
    assert len(fake_kfp.runs) == 2
    assert "### ❌ `/build_run` failed" in one_status_comment(pr, first)  # its report finished on the way
    assert pr.reactions(first) == ["eyes", "confused"]


def test_cancel_terminates_this_prs_active_run_and_says_so(pr: PullRequest, fake_kfp: Any) -> None:
    fake_kfp.run_states = ["PENDING", "RUNNING"]
    pr.follow = FollowPolicy(minutes=0)
    pr.comment("/build_run")
    first = pr.last_comment
    [run_id] = fake_kfp.runs
    outcome = pr.comment("/cancel", user="bob")
    assert outcome.outcome == d.SUCCEEDED, pr.logs
    assert len(fake_kfp.requests_to("POST", f"/runs/{run_id}:terminate")) == 1
    mine = one_status_comment(pr)
    assert "### ✅ `/cancel` succeeded" in mine and "Asked Kubeflow to terminate [quickstart-classifier" in mine
    theirs = one_status_comment(pr, first)
    assert "### ⏹️ `/build_run` canceled" in theirs and "Canceled by @bob with /cancel." in theirs
    assert pr.commit_states() == ["error", "pending"]
    assert record_of(pr, first).canceled_by == "bob"
    outcome = pr.comment("/cancel", user="bob")
    assert outcome.outcome == d.SKIPPED
    assert "Nothing to cancel: no run of this pull request is running." in one_status_comment(pr)


def test_cancel_while_the_job_still_follows_the_run(pr: PullRequest, fake_kfp: Any) -> None:
    fake_kfp.run_states = ["PENDING"] + ["RUNNING"] * 50
    pr.follow = FollowPolicy(minutes=60, poll_seconds=10, max_poll_seconds=10)
    canceled: list[d.Outcome] = []

    def cancel_once(now: float) -> None:
        if now >= 1100 and not canceled:
            canceled.append(pr.comment("/cancel", user="bob"))

    pr.clock.on_sleep = cancel_once
    outcome = pr.comment("/build_run")
    first = [c for c in pr.fake.comments_on(NUMBER) if c["body"] == "/build_run"][0]["id"]
    assert canceled[0].outcome == d.SUCCEEDED
    assert outcome.outcome == d.FAILED  # the follower saw the run end canceled
    assert "### ⏹️ `/build_run` canceled" in one_status_comment(pr, first)


def test_cancel_only_touches_this_prs_runs(pr: PullRequest, fake_kfp: Any) -> None:
    outcome = pr.comment("/cancel --run-id run-of-someone-else", user="bob")
    assert outcome.outcome == d.SKIPPED
    assert "no run `run-of-someone-else` was started from this pull request" in one_status_comment(pr)
    assert fake_kfp.requests == []


def test_status_lists_this_prs_runs_and_finishes_ended_ones(pr: PullRequest, fake_kfp: Any) -> None:
    assert pr.comment("/build_run").outcome == d.SUCCEEDED
    fake_kfp.run_states = ["PENDING", "RUNNING"]
    pr.follow = FollowPolicy(minutes=0)
    assert pr.comment("/run").outcome == d.HANDED_OVER
    second = pr.last_comment
    outcome = pr.comment("/status", user="rita")  # read access is enough
    assert outcome.outcome == d.SUCCEEDED, pr.logs
    body = one_status_comment(pr)
    assert "2 run(s) started from this pull request, 1 still running." in body
    assert "| run | command | commit | by | state | started |" in body
    rows = [line for line in body.splitlines() if line.startswith("| [quickstart")]
    assert "`/run`" in rows[0] and "running (handed over)" in rows[0]  # newest first
    assert "`/build_run`" in rows[1] and "`succeeded`" in rows[1]
    [open_run] = [r for r in fake_kfp.runs.values() if r.state == "RUNNING"]
    open_run.script, open_run.step = ["SUCCEEDED"], 0
    pr.comment("/status", user="rita")
    assert "2 run(s) started from this pull request, 0 still running." in one_status_comment(pr)
    assert "### ✅ `/run` succeeded" in one_status_comment(pr, second)
    assert pr.reactions(second) == ["eyes", "rocket"]


def test_state_is_trusted_only_from_the_actions_own_comments(pr: PullRequest, fake_kfp: Any) -> None:
    forged = RunRecord(key="1", command="run", pr=NUMBER, requested_by="mallory", sha=pr.head,
                       run_id="run-forged", state="RUNNING").to_state()
    from kfops_action.github.render import state_marker

    pr.fake.add_comment(NUMBER, f"<!-- kfops --><!-- kfops:status key=1 part=1/1 -->\n{state_marker(forged)}",
                        user="mallory")
    outcome = pr.comment("/status")
    assert "No pipeline run was started from this pull request yet" in one_status_comment(pr)
    assert pr.comment("/build_run").outcome == d.SUCCEEDED  # a forged active run blocks nothing
    assert "run-forged" not in json.dumps([r.path for r in fake_kfp.requests])
    assert outcome.exit_code == 0


def test_rerun_of_the_workflow_edits_its_comment_and_follows_its_run(pr: PullRequest, fake_kfp: Any) -> None:
    """A re-run of the job (same event) finds the comment and the run an earlier attempt made."""
    fake_kfp.run_states = ["PENDING", "RUNNING"]
    pr.follow = FollowPolicy(minutes=0)
    pr.comment("/build_run")
    comment_id = pr.last_comment
    [run] = fake_kfp.runs.values()
    run.script, run.step = ["SUCCEEDED"], 0
    pr.follow = FollowPolicy(minutes=10)
    outcome = d.dispatch("issue_comment", pr.payload(comment_id, "/build_run", "alice"), github=pr.repo,
                         base_config=lambda ref: pr.repo.get_file_text("kfops.yaml", ref),
                         handlers=command_handlers(pr.workspace()), scrubber=pr.repo.scrubber,
                         env={"GITHUB_RUN_ATTEMPT": "2"},
                         log=pr.logs.append)
    assert outcome.outcome == d.SUCCEEDED
    assert len(fake_kfp.runs) == 1  # not started again
    assert "### ✅ `/build_run` succeeded" in one_status_comment(pr, comment_id)


# -- Kubeflow credentials ------------------------------------------------------------------------------


def test_service_account_token_file_is_read_again_on_each_request(github: GitHubEndpoint, fake_kfp: Any,
                                                                  checkout: tuple[Path, str], tmp_path: Path) -> None:
    token_file = tmp_path / "sa" / "token"
    token_file.parent.mkdir()
    token_file.write_text(fake_kfp.token + "\n")
    base = base_text(fake_kfp.url).replace(
        "    type: token\n    token_env: KF_PIPELINES_TOKEN      # the bearer token is read from this environment variable\n",
        f"    type: service_account_token\n    token_file: {token_file}\n")
    assert "service_account_token" in base
    pr = make_pr(github, fake_kfp.url, "rotated-token-0002-abcdef", checkout, tmp_path, base=base)
    pr.env = {}
    fake_kfp.run_states = ["PENDING"] + ["RUNNING"] * 6 + ["SUCCEEDED"]
    original = fake_kfp.token

    def rotate(now: float) -> None:  # the kubelet rotates the projected token mid-run
        if now > 1030 and fake_kfp.token == original:
            token_file.write_text("rotated-token-0002-abcdef\n")
            fake_kfp.token = "rotated-token-0002-abcdef"

    pr.clock.on_sleep = rotate
    try:
        outcome = pr.comment("/build_run")
    finally:
        fake_kfp.token = original
    assert outcome.outcome == d.SUCCEEDED, pr.logs
    nothing_leaked(pr, original)


def test_cluster_access_settings_come_from_the_base_branch(tmp_path: Path) -> None:
    """A PR may describe its images, not where Kaniko runs or with which secrets."""
    from types import SimpleNamespace

    (tmp_path / "kfops.yaml").write_text(
        "pipeline: {file: p.py, function: f}\n"
        "kubeflow: {endpoint: 'https://attacker.example'}\n"
        "images:\n  builder: kaniko\n  registry: r.example/acme\n  build: [{name: trainer}]\n"
        "  kaniko: {namespace: kube-system, registry_secret: stolen}\n")
    base = {"pipeline": {"file": "p.py", "function": "f"},
            "kubeflow": {"endpoint": "https://kubeflow.example/pipeline"},
            "images": {"builder": "none", "kaniko": {"namespace": "ml-builds", "registry_secret": "push"}}}
    context = SimpleNamespace(command=SimpleNamespace(sets=()), base=SimpleNamespace(data=base))
    config = command_config(context, Workspace(root=tmp_path))  # type: ignore[arg-type]
    assert config.section("kubeflow") == {"endpoint": "https://kubeflow.example/pipeline"}
    assert config.section("images")["kaniko"] == {"namespace": "ml-builds", "registry_secret": "push"}
    assert config.section("images")["build"] == [{"name": "trainer"}]


def test_record_round_trip_and_tolerance() -> None:
    run = RunRecord(key="5", command="build_run", pr=7, requested_by="alice", sha="a" * 40, run_id="r-1",
                    images=[{"name": "t", "reference": "reg/t:abc", "digest": "sha256:" + "b" * 64}],
                    parameters=[{"name": "x", "value": 1.5, "overridden": True}], state="SUCCEEDED")
    state = json.loads(json.dumps(run.to_state()))
    assert RunRecord.from_state(state).to_state() == run.to_state()
    assert RunRecord.from_state(state).succeeded and not RunRecord.from_state(state).open
    assert RunRecord.from_state({"kind": "build"}) is None
    assert RunRecord.from_state({"kind": "run", "run": {"id": ""}}) is None
    assert RunRecord.from_state({"kind": "run", "run": {"id": "r"}, "images": "junk", "pr": "x"}).pr == 0
