"""Check runs (kfops_action/github/check_runs.py): /build_run and /deploy in the PR's Checks tab.

End to end through the real dispatcher and handlers (the path `kfops-action` takes), against the
fake GitHub behind Prism (every check-run request and answer checked against GitHub's own API
description), the fake KFP, and for /deploy the real kube-apiserver with KServe's CRD. Each test
reads the check run as GitHub would show it: name, head SHA, status, conclusion, Details link,
summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.action_flow import NUMBER, PullRequest, base_text, make_checkout
from fakes.deploy_fixtures import admin, endpoint, kserve, namespace  # noqa: F401
from fakes.deploy_world import World, mlmd, world  # noqa: F401
from fakes.github_prism import GitHubEndpoint, github  # noqa: F401
from fakes.mlmd_fake import FakeMlmd

from kfops_action.chatops import dispatch as d
from kfops_action.chatops.tracking import FollowPolicy, finish_open_runs
from kfops_action.github import check_runs
from kfops_action.github.render import Param, Report

via_prism = pytest.mark.parametrize("github", ["prism"], indirect=True)


def runs_named(fake: Any, name: str) -> list[dict[str, Any]]:
    return [fake.check_run_json(r) for r in sorted(fake.check_runs.values(), key=lambda r: r["id"])
            if r["name"] == name]


def writes(fake: Any, method: str) -> list[dict[str, Any]]:
    return [r.body for r in fake.requests if r.method == method and "/check-runs" in r.path]


@pytest.fixture
def pr(github: GitHubEndpoint, fake_kfp: Any, tmp_path: Path) -> PullRequest:  # noqa: F811
    checkout, head = make_checkout(tmp_path)
    return PullRequest(github, fake_kfp.url, fake_kfp.token, checkout, head, summary=tmp_path / "summary.md")


# -- /build_run -------------------------------------------------------------------------------------------


@via_prism
def test_build_run_has_a_check_run_with_the_run_link_parameters_and_metrics(github: GitHubEndpoint,  # noqa: F811
                                                                             fake_kfp: Any, tmp_path: Path) -> None:
    fake_kfp.tasks = ["train", "evaluate"]
    fake_kfp.run_states = ["PENDING", "RUNNING", "SUCCEEDED"]
    checkout, head = make_checkout(tmp_path)
    with FakeMlmd(token=fake_kfp.token) as mlmd:
        data = yaml.safe_load(base_text(fake_kfp.url))
        data["metrics"]["mlmd_endpoint"] = mlmd.url
        pr = PullRequest(github, fake_kfp.url, fake_kfp.token, checkout, head, summary=tmp_path / "s.md",
                         base=yaml.safe_dump(data))

        def publish(_now: float) -> None:
            for run_id in fake_kfp.runs:
                tasks = [{"name": "train", "model": True},
                         {"name": "evaluate", "metrics": {"metrics": {"accuracy": 0.91}}}]
                mlmd.store.seed({"runs": [{"run_id": run_id, "pipeline": "quickstart-classifier", "tasks": tasks}]})

        pr.clock.on_sleep = publish
        outcome = pr.comment("/build_run --set pipeline.parameters.epochs=5")
    assert outcome.outcome == d.SUCCEEDED, pr.logs
    [run_id] = fake_kfp.runs
    [check] = runs_named(pr.fake, "kfops /build_run")
    assert check["head_sha"] == head and check["status"] == "completed" and check["conclusion"] == "success"
    assert check["external_id"] == str(pr.last_comment)
    assert check["details_url"] == f"{fake_kfp.url}/#/runs/details/{run_id}"  # the Details button: the KFP run
    output = check["output"]
    assert output["title"] == "/build_run succeeded"
    summary = output["summary"]
    assert f"### ✅ `/build_run` succeeded on {head[:12]} for @alice" in summary
    assert "| `epochs` | `5` | yes |" in summary                  # the parameters table
    assert "| evaluate | **accuracy** | 0.91 |" in summary        # the metrics table
    assert "kfops:state" not in summary                          # the hidden state stays in the comment
    # created in progress once, then updated on state changes only, completed at the end
    [created] = writes(pr.fake, "POST")
    assert created["status"] == "in_progress" and created["head_sha"] == head
    updates = writes(pr.fake, "PATCH")
    assert 1 <= len(updates) <= 5 and updates[-1]["conclusion"] == "success"
    assert all("conclusion" not in u for u in updates[:-1])


@via_prism
def test_a_failed_run_is_a_failed_check_and_a_dry_run_has_none(pr: PullRequest, fake_kfp: Any) -> None:
    fake_kfp.fail_task("train", "OOMKilled")
    fake_kfp.tasks = ["train"]
    fake_kfp.run_states = ["PENDING", "RUNNING", "FAILED"]
    assert pr.comment("/build_run").outcome == d.FAILED
    [check] = runs_named(pr.fake, "kfops /build_run")
    assert check["conclusion"] == "failure" and "OOMKilled" in check["output"]["summary"]

    assert pr.comment("/build_run --dry-run").outcome == d.SUCCEEDED
    assert len(runs_named(pr.fake, "kfops /build_run")) == 1  # a dry run judged nothing


@via_prism
def test_without_checks_write_the_pr_gets_a_warning_and_the_command_still_succeeds(pr: PullRequest,
                                                                                   fake_kfp: Any) -> None:
    pr.fake.checks_forbidden = True
    fake_kfp.run_states = ["PENDING", "SUCCEEDED"]
    outcome = pr.comment("/build_run")
    assert outcome.outcome == d.SUCCEEDED and outcome.exit_code == 0, pr.logs
    body = pr.status_of()
    assert "### ✅ `/build_run` succeeded" in body
    assert ("the check run kfops /build_run could not be written (the token may not write check runs: give the "
            "workflow job `permissions: checks: write`); this comment is the report") in body
    assert pr.fake.check_runs == {} and len(writes(pr.fake, "POST")) == 1  # tried once, then off
    assert pr.reactions() == ["eyes", "rocket"]


@via_prism
def test_a_handed_over_run_keeps_its_check_in_progress_until_the_follow_up_concludes_it(pr: PullRequest,
                                                                                       fake_kfp: Any) -> None:
    fake_kfp.run_states = ["PENDING", "RUNNING"]
    pr.follow = FollowPolicy(minutes=0)
    assert pr.comment("/build_run").outcome == d.HANDED_OVER
    [check] = runs_named(pr.fake, "kfops /build_run")
    assert check["status"] == "in_progress" and check["conclusion"] is None
    assert check["details_url"].startswith(f"{fake_kfp.url}/#/runs/details/")

    [run] = fake_kfp.runs.values()
    run.script, run.step = ["SUCCEEDED"], 0
    sweep = finish_open_runs(pr.repo, base_config=lambda ref: pr.repo.get_file_text("kfops.yaml", ref),
                             config_path="kfops.yaml", env=pr.env, base_dir=pr.checkout,
                             add_secret=pr.repo.scrubber.add, log=pr.logs.append)
    assert sweep.finished == 1 and sweep.errors == []
    [check] = runs_named(pr.fake, "kfops /build_run")
    assert check["status"] == "completed" and check["conclusion"] == "success"
    assert "### ✅ `/build_run` succeeded" in check["output"]["summary"]


# -- /deploy -----------------------------------------------------------------------------------------------


@via_prism
def test_deploy_has_a_check_run_with_the_rollout_and_a_refusal_is_neutral(world: World) -> None:
    world.fake.pulls[NUMBER].behind_by = 1
    world.seed_record()
    assert world.comment("/deploy").outcome == d.NOT_READY
    [refused] = runs_named(world.fake, "kfops /deploy")
    assert refused["conclusion"] == "neutral" and refused["head_sha"] == world.head
    assert "`main` has 1 commit that this pull request does not have" in refused["output"]["summary"]

    world.fake.pulls[NUMBER].behind_by = 0
    assert world.comment("/deploy").outcome == d.SUCCEEDED, world.body()
    [_, deployed] = runs_named(world.fake, "kfops /deploy")
    assert deployed["conclusion"] == "success" and deployed["output"]["title"] == "/deploy succeeded"
    summary = deployed["output"]["summary"]
    assert "Deployed to production" in summary and "| step | result | seconds | detail |" in summary
    assert deployed["details_url"].startswith(world.fake_kfp.url + "/#/runs/details/")


# -- pure -----------------------------------------------------------------------------------------------


def test_output_is_the_comment_without_state_and_cut_to_githubs_limit() -> None:
    report = Report("/build_run", "succeeded", parameters=[Param("epochs", 5, True)],
                    state_data={"kind": "run"}, warnings=["x" * 200] * 400)
    output = check_runs.output_of(report)
    assert output["title"] == "/build_run succeeded"
    assert len(output["summary"]) <= check_runs.SUMMARY_LIMIT
    assert output["summary"].endswith(check_runs.CUT_NOTE) and "kfops:state" not in output["summary"]
    assert check_runs.is_own("kfops /deploy") and not check_runs.is_own("kfops-lint")
    assert {check_runs.CONCLUSIONS[s] for s in ("succeeded", "failed", "refused")} == {"success", "failure", "neutral"}
