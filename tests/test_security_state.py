"""Security issue 14, item 2: a status comment "by the action" is a hint, not proof.

Any workflow of the repository holding GITHUB_TOKEN posts comments as github-actions[bot] (a write
user's own `pull_request` workflow on a branch, say), so a record in such a comment can be forged.
Each test posts a forged record as the bot, then drives the command through the real dispatcher
and handlers against the fake GitHub, the fake KFP and the ML Metadata fake: kfops must ask KFP
about the run (kfops_action/chatops/provenance.py), refuse, say what did not match, and change
nothing.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from fakes.action_flow import NUMBER, PullRequest, make_checkout
from fakes.deploy_fixtures import admin, endpoint, kserve, namespace  # noqa: F401
from fakes.deploy_world import PIPELINE, World, mlmd  # noqa: F401
from fakes.github_prism import GitHubEndpoint, github  # noqa: F401
from fakes.mlmd_fake import FakeMlmd
from fakes.model_endpoint import ModelEndpoint

from kfops_action.chatops import dispatch as d
from kfops_action.chatops.provenance import mismatches
from kfops_action.chatops.runs import RunRecord
from kfops_action.kubeflow.remote import ExperimentRef, PipelineVersionRef, RunStatus

EVIL = "gs://evil/bot-model"
OTHER_PR, OTHER_SHA = 8, "d" * 40
direct = pytest.mark.parametrize("github", ["direct"], indirect=True)


@pytest.fixture
def world(github: GitHubEndpoint, fake_kfp: Any, kube_api: Any, namespace: str, kserve: Any,  # noqa: F811
          mlmd: FakeMlmd, endpoint: ModelEndpoint, tmp_path: Path) -> World:  # noqa: F811
    """The deploy world with no approval required, so that nothing but the record's check can
    stand between the forged record and the cluster."""
    return World(github, fake_kfp, kube_api, namespace, mlmd, endpoint, tmp_path, required_approvals=0)


def forged(world: World, **fields: Any) -> RunRecord:
    """A record claiming a successful run of this PR's head with the attacker's model, posted as
    the bot on PR #7."""
    record = RunRecord(key=str(990000 + len(world.fake.comments)), command="build_run", pr=NUMBER,
                       requested_by="mallory", sha=world.head, run_id="run-forged", state="SUCCEEDED",
                       model_uri=EVIL)
    record = dataclasses.replace(record, **fields)
    world.pr.post_state(record.to_state())
    return record


def nothing_deployed(world: World) -> None:
    """No InferenceService, no GitHub deployment or deploy status, no merge, and the attacker's
    model named nowhere kfops wrote to."""
    assert world.isvc() is None and world.isvc("quickstart-classifier-staging") is None
    assert world.fake.deployments == {} and world.deploy_statuses() == [] and world.merges() == []
    assert not world.fake.pulls[NUMBER].merged
    sent = [json.dumps(r.body) for r in world.fake.requests if r.body is not None]
    assert all(EVIL not in text for text in sent + world.pr.logs)


@direct
def test_forged_record_naming_another_prs_run_deploys_nothing(world: World) -> None:
    """(a) The run exists in KFP and succeeded, but it is PR #8's; the record claims it for #7 at
    the current head, with a model of the attacker's choosing."""
    world.fake.add_pull(OTHER_PR, head_sha=OTHER_SHA)
    theirs = world.seed_record(on=OTHER_PR, sha=OTHER_SHA)
    forged(world, run_id=theirs.run_id, run_name=theirs.run_name, artifacts=theirs.artifacts)

    outcome = world.comment("/deploy")
    assert outcome.outcome == d.NOT_READY, world.body()
    body = world.body()
    assert "Not deployed to production" in body and f"`{theirs.run_id}`" in body
    assert f"it was started for pull request #{OTHER_PR}, not #{NUMBER}" in body
    assert f"is of commit `{OTHER_SHA[:7]}`" in body and "Nothing was deployed." in body
    nothing_deployed(world)


@direct
def test_forged_record_naming_a_run_kfp_does_not_know_deploys_nothing(world: World) -> None:
    """(b) The record names a run id KFP has never seen (and the attacker's model)."""
    model = world.seed_model("run-of-someone")  # a real artifact id, so only KFP can tell
    forged(world, run_id="run-that-never-was", artifacts={"train": {"model": [model]}})

    outcome = world.comment("/staging_deploy", user="alice")
    assert outcome.outcome == d.NOT_READY, world.body()
    body = world.body()
    assert "Not deployed to staging" in body and "Kubeflow has no run `run-that-never-was`" in body
    nothing_deployed(world)


@direct
def test_forged_success_of_a_failed_run_deploys_nothing(world: World) -> None:
    """(c) A run of this PR at its head that FAILED in KFP; the record says SUCCEEDED and lists
    its model artifact, which ML Metadata would resolve."""
    model = world.seed_model("run-failed")
    world.seed_kfp_run("run-failed", sha=world.head, state="FAILED", model=model)
    forged(world, run_id="run-failed", model_uri=None, artifacts={"train": {"model": [model]}})

    outcome = world.comment("/deploy")
    assert outcome.outcome == d.NOT_READY, world.body()
    body = world.body()
    assert "Kubeflow says it is `FAILED`, not `SUCCEEDED`" in body
    nothing_deployed(world)
    assert "s3://mlpipeline/v2/artifacts/run-failed" not in body  # the model was never looked up


@pytest.fixture
def pr(github: GitHubEndpoint, fake_kfp: Any, tmp_path: Path) -> PullRequest:  # noqa: F811
    checkout, head = make_checkout(tmp_path)
    return PullRequest(github, fake_kfp.url, fake_kfp.token, checkout, head, summary=tmp_path / "summary.md")


@direct
@pytest.mark.parametrize("command", ["/cancel", "/cancel --run-id {run_id}"])
def test_cancel_of_another_prs_run_through_a_forged_record_is_refused(pr: PullRequest, fake_kfp: Any,
                                                                     command: str) -> None:
    """(d) PR #8's run is running; a forged open record on #7 names it."""
    run_id = fake_kfp.add_run(f"{PIPELINE}-pr{OTHER_PR}-{OTHER_SHA[:7]}-20250106-090000", pipeline=PIPELINE,
                              version=f"{OTHER_SHA[:7]}-5eed0000c0de", experiment="quickstart", states=("RUNNING",))
    record = RunRecord(key="990001", command="build_run", pr=NUMBER, requested_by="mallory", sha=pr.head,
                       run_id=run_id, state="RUNNING")
    pr.post_state(record.to_state())

    outcome = pr.comment(command.format(run_id=run_id), user="bob")
    assert outcome.outcome == d.NOT_READY, pr.logs
    body = pr.status_of()
    assert "### ⛔ `/cancel` refused" in body and f"Not canceled: Kubeflow's run `{run_id}`" in body
    assert f"it was started for pull request #{OTHER_PR}, not #{NUMBER}" in body
    assert fake_kfp.requests_to("POST", f"/runs/{run_id}:terminate") == []
    assert fake_kfp.runs[run_id].state == "RUNNING"


# -- the rules, one by one (pure) ------------------------------------------------------------------


HEAD = "abcdef0" + "1" * 33


def _status(name: str = f"{PIPELINE}-pr7-abcdef0-20250106-090000", state: str = "SUCCEEDED") -> RunStatus:
    return RunStatus("r1", state, None, None, None, display_name=name, experiment_id="e1",
                     pipeline_id="p1", pipeline_version_id="v1")


def _version(name: str = "abcdef0-5eed0000c0de", pipeline: str = PIPELINE) -> PipelineVersionRef:
    return PipelineVersionRef("p1", "v1", pipeline, name, created=False)


def _check(status: RunStatus | None = None, version: PipelineVersionRef | None = None, *,
           experiment: ExperimentRef | None = None, namespace: str | None = None,
           succeeded: bool = True) -> list[str]:
    return mismatches(status or _status(), version if version is not None else _version(),
                      experiment or ExperimentRef("e1", "quickstart", "team-a"), pr=7, sha=HEAD,
                      namespace=namespace, succeeded=succeeded)


def test_a_run_of_this_pr_and_commit_matches() -> None:
    assert _check() == []
    assert _check(namespace="team-a") == []
    assert _check(_status(state="RUNNING"), succeeded=False) == []
    # a pipeline whose own name looks like a run name is still read from the end
    assert _check(_status("a-pr9-1234567-x-pr7-abcdef0-20250106-090000"), _version(pipeline="a-pr9-1234567-x")) == []


def test_each_mismatch_is_named() -> None:
    assert _check(_status(state="FAILED")) == ["Kubeflow says it is `FAILED`, not `SUCCEEDED`"]
    [other_ns] = _check(namespace="team-b")
    assert "namespace `team-a`, not `team-b`" in other_ns
    assert "not the name kfops gives" in _check(_status("my-manual-run"))[0]
    assert "not the name kfops gives" in _check(_status(f"{PIPELINE}-abcdef0-20250106-090000"))[0]  # kfc run
    assert "is not one kfops uploads" in _check(version=_version("abcdef0-dirty-5eed0000c0de"))[0]
    assert "is not one kfops uploads" in _check(version=_version("v1.2"))[0]
    [commit] = _check(version=_version("1234567-5eed0000c0de"))
    assert "is of commit `1234567`" in commit
    [pipeline] = _check(version=_version(pipeline="another-pipeline"))
    assert f"its name says pipeline `{PIPELINE}`, but it ran `another-pipeline`" == pipeline
    assert _check(_status(f"{PIPELINE}-pr8-abcdef0-20250106-090000")) == [
        "it was started for pull request #8, not #7"]
    no_version = mismatches(_status(), None, None, pr=7, sha=HEAD, namespace=None, succeeded=True)
    assert no_version == ["it was not started from a pipeline version stored in Kubeflow"]


def test_the_parsers_read_back_the_names_kfops_gives() -> None:
    from types import SimpleNamespace

    from kfops_action.gitinfo import Commit
    from kfops_action.pipeline.naming import parse_run_name, parse_version_name, run_name, version_name

    parsed = parse_run_name(run_name("my-pipeline", Commit(HEAD, False), 12))
    assert parsed is not None and (parsed.pipeline, parsed.pr, parsed.short) == ("my-pipeline", 12, "abcdef0")
    assert parse_run_name(run_name("my-pipeline", Commit(HEAD, False))) is None  # kfc run: no PR
    package: Any = SimpleNamespace(spec_hash="0123456789ab")
    clean, dirty = (parse_version_name(version_name(Commit(HEAD, d), package)) for d in (False, True))
    assert clean is not None and (clean.short, clean.dirty, clean.spec_hash) == ("abcdef0", False, "0123456789ab")
    assert dirty is not None and dirty.dirty
