"""/deploy and /staging_deploy from a PR comment to the cluster and back to the PR.

The real dispatcher and handlers; the fake GitHub behind Prism (GitHub's own API description); the
real kube-apiserver with KServe's CRD and a controller stand-in (tests/fakes/kserve_controller.py)
whose URLs lead to a model server on loopback; the fake KFP for /build_run; a grpc-web ML Metadata
fake for the model's URI and the metrics gate. Each test asserts what the PR shows and what the
cluster holds afterwards.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.action_flow import NUMBER
from fakes.deploy_fixtures import admin, endpoint, kserve, namespace  # noqa: F401
from fakes.deploy_world import ISVC, World, mlmd, world  # noqa: F401
from fakes.github_prism import GitHubEndpoint, github  # noqa: F401
from fakes.mlmd_fake import FakeMlmd
from fakes.model_endpoint import ModelEndpoint

from kfops_action.chatops import deploy_rules as rules
from kfops_action.chatops import dispatch as d
from kfops_action.chatops.runs import RunRecord

LABEL = "Deployed-to-production"
OTHER_PR = 8
OLD_SHA = "0123456789abcdef0123456789abcdef01234567"
via_prism = pytest.mark.parametrize("github", ["prism"], indirect=True)


def serving(obj: dict[str, Any] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for entry in (obj or {})["status"]["components"]["predictor"]["traffic"]:
        out[entry["revisionName"]] = out.get(entry["revisionName"], 0) + entry["percent"]
    return {k: v for k, v in out.items() if v}


# -- the whole path ---------------------------------------------------------------------------------


def test_build_run_then_deploy_releases_labels_merges_and_closes(github: GitHubEndpoint, fake_kfp: Any,  # noqa: F811
                                                                  world: World) -> None:
    """Against the fake GitHub directly and through Prism."""
    model_id = world.seed_model("pre-run")
    fake_kfp.tasks = ["train", "evaluate"]
    fake_kfp.task_outputs = {"train": {"model": [model_id]}}
    world.fake.add_pull(OTHER_PR, head_sha="d" * 40, labels=[LABEL])  # what production served before
    assert world.comment("/build_run", user="alice").outcome == d.SUCCEEDED, world.pr.logs
    [run_id] = fake_kfp.runs
    world.seed_model(run_id, accuracy=0.93)  # the run's metrics, for the gate

    outcome = world.comment("/deploy")
    assert outcome.outcome == d.SUCCEEDED, world.pr.logs + [world.body()]
    body = world.body()
    assert f"### ✅ `/deploy` succeeded on {world.head[:12]} for @maria" in body
    assert "Deployed to production: created InferenceService" in body
    assert "quickstart-classifier-predictor-00001 serves 100% (first deploy, so no canary)" in body
    assert "no model is in production yet" in body  # the gate ran
    assert "Merged (merge) at" in body
    # the cluster: created, annotated with where it came from, serving the run's model
    live = world.isvc()
    assert live is not None and serving(live) == {"quickstart-classifier-predictor-00001": 100}
    annotations = live["metadata"]["annotations"]
    assert annotations["kfops/run-id"] == run_id and annotations["kfops/commit"] == world.head
    assert annotations["kfops/pull-request"] == f"kfops-org/model#{NUMBER}"
    assert annotations["kfops/model-uri"] == "s3://mlpipeline/v2/artifacts/pre-run/train/model"
    env = live["spec"]["predictor"]["containers"][0]["env"]
    assert {"name": "STORAGE_URI", "value": "s3://mlpipeline/v2/artifacts/pre-run/train/model"} in env
    assert world.endpoint.hits("quickstart-classifier-predictor-00001")  # the endpoint check ran
    # GitHub: label moved, deployment with its URL, kfops/deploy, merged at the pinned head, closed
    pull = world.fake.pulls[NUMBER]
    assert LABEL in pull.labels and LABEL not in world.fake.pulls[OTHER_PR].labels
    assert pull.merged and pull.state == "closed"
    assert world.merges() == [{"sha": world.head, "merge_method": "merge", "commit_title": f"feature (#{NUMBER}), "
                                                                                         "deployed to production"}]
    assert world.deployment_states() == ["success", "in_progress"]
    [deployment] = [s for s in world.fake.deployment_statuses[next(iter(world.fake.deployments))]
                    if s["state"] == "success"]
    assert deployment["environment_url"].startswith(world.endpoint.base + "/svc/")
    assert world.deploy_statuses() == ["success", "pending"]
    assert world.pr.reactions() == ["eyes", "rocket"]
    # the action's outputs
    from kfops_action.action_main import action_outputs

    outputs = action_outputs(outcome)
    assert outputs["command"] == "deploy" and outputs["run-id"] == run_id
    assert outputs["deployed-url"] == deployment["environment_url"]
    result = json.loads(outputs["result"])
    assert result["merged"] is True and result["environment"] == "production" and result["outcome"] == "succeeded"


@via_prism
def test_staging_deploy_does_not_merge(world: World) -> None:
    world.seed_record()
    outcome = world.comment("/staging_deploy", user="alice")  # write is enough for staging
    assert outcome.outcome == d.SUCCEEDED, world.pr.logs + [world.body()]
    assert world.isvc("quickstart-classifier-staging") is not None and world.isvc() is None
    pull = world.fake.pulls[NUMBER]
    assert not pull.merged and pull.state == "open" and world.merges() == []
    assert "Deployed-to-staging" in pull.labels and LABEL not in pull.labels
    assert world.deployment_states("staging") == ["success", "in_progress"]
    assert "Merged" not in world.body()


@via_prism
def test_second_deploy_is_a_canary_and_the_gate_refuses_a_worse_model_unless_forced(world: World) -> None:
    world.serve_in_production(accuracy=0.95)
    record = world.seed_record(accuracy=0.90)
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.NOT_READY and outcome.exit_code == 0
    body = world.body()
    assert "### ⛔ `/deploy` refused" in body and "Deploy refused by the gate" in body
    assert "`0.9`" in body or "0.9" in body
    assert serving(world.isvc()) == {"quickstart-classifier-predictor-00001": 100}  # untouched
    assert world.deploy_statuses() == [] and world.merges() == []

    outcome = world.comment("/deploy --force")
    assert outcome.outcome == d.SUCCEEDED, world.body()
    body = world.body()
    assert "Deploy gate overridden with `--force`" in body
    assert "passed a 10% canary and the endpoint check, then was promoted to 100%" in body
    live = world.isvc()
    assert serving(live) == {"quickstart-classifier-predictor-00002": 100}
    assert live["metadata"]["annotations"]["kfops/run-id"] == record.run_id
    assert world.fake.pulls[NUMBER].merged


# -- refusals: nothing touched -------------------------------------------------------------------------


@via_prism
def test_a_model_trained_on_an_older_commit_is_refused_unless_forced(world: World) -> None:
    record = world.seed_record(sha=OLD_SHA)
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.NOT_READY
    body = world.body()
    assert f"trained the model on 0123456 (`{OLD_SHA}`)" in body and f"(`{world.head}`)" in body
    assert f"`/deploy --run-id {record.run_id} --force`" in body
    assert world.isvc() is None

    assert world.comment("/deploy --force").outcome == d.SUCCEEDED, world.body()
    body = world.body()
    assert "deployed anyway because of `--force`" in body
    assert world.isvc()["metadata"]["annotations"]["kfops/run-id"] == record.run_id


@via_prism
def test_no_successful_run_is_refused(world: World) -> None:
    world.seed_record(state="FAILED")
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.NOT_READY
    assert "no successful run of this pull request yet: comment `/build_run` first" in world.body()
    assert world.isvc() is None and world.pr.reactions() == ["eyes", "confused"]


@via_prism
def test_run_id_of_another_pull_request_is_refused(world: World) -> None:
    world.fake.add_pull(OTHER_PR, head_sha="d" * 40)
    theirs = world.seed_record(on=OTHER_PR)
    world.seed_record()
    outcome = world.comment(f"/deploy --run-id {theirs.run_id}")
    assert outcome.outcome == d.NOT_READY
    assert f"run `{theirs.run_id}` was not started from this pull request" in world.body()
    assert world.isvc() is None


@via_prism
def test_base_branch_other_than_the_default_is_refused(world: World) -> None:
    world.fake.pulls[NUMBER].base_ref = "release"
    world.fake.add_file("kfops.yaml", world.base, ref="release")
    world.seed_record()
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.NOT_READY
    assert "this pull request targets `release`, not the default branch `main`" in world.body()
    assert world.isvc() is None


@via_prism
def test_not_mergeable_is_refused(world: World) -> None:
    world.fake.pulls[NUMBER].mergeable = False
    world.seed_record()
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.NOT_READY
    assert "cannot be merged (GitHub reports `dirty`" in world.body()
    assert world.isvc() is None and world.deploy_statuses() == []


@via_prism
def test_base_branch_ahead_is_refused_unless_forced(world: World) -> None:
    world.fake.pulls[NUMBER].behind_by = 2
    world.seed_record()
    assert world.comment("/deploy").outcome == d.NOT_READY
    body = world.body()
    assert "`main` has 2 commits that this pull request does not have" in body
    assert "or comment `/deploy --force`" in body


@via_prism
def test_approvals_required_by_the_config(github: GitHubEndpoint, fake_kfp: Any, kube_api: Any,  # noqa: F811
                                          namespace: str, kserve: Any, mlmd: FakeMlmd,  # noqa: F811
                                          endpoint: ModelEndpoint, tmp_path: Path) -> None:  # noqa: F811
    world = World(github, fake_kfp, kube_api, namespace, mlmd, endpoint, tmp_path, required_approvals=1)
    world.seed_record()
    world.fake.set_permission("rita", "read")
    world.fake.add_review(NUMBER, "rita")                          # no write access
    world.fake.add_review(NUMBER, "bob", commit_id=OLD_SHA)        # an older commit
    assert world.comment("/deploy").outcome == d.NOT_READY
    body = world.body()
    assert "needs 1 approving review" in body and "it has 0" in body and "bob" in body and "rita" in body
    world.fake.add_review(NUMBER, "bob")
    assert world.comment("/deploy").outcome == d.SUCCEEDED, world.body()


# -- failures after the cluster was touched ------------------------------------------------------------


@via_prism
def test_failed_endpoint_check_rolls_back_and_says_what_serves(world: World) -> None:
    world.serve_in_production(accuracy=0.90)
    world.seed_record(accuracy=0.93)
    world.endpoint.script("quickstart-classifier-predictor-00002", "error")
    outcome = world.comment("/deploy")
    body = world.body()
    assert outcome.outcome == d.FAILED and outcome.exit_code == 1, body
    assert "### ❌ `/deploy` failed" in body
    assert "failed the endpoint check" in body and "rolled back" in body
    assert "100% -&gt; quickstart-classifier-predictor-00001" in body or \
           "100% -> quickstart-classifier-predictor-00001" in body
    assert serving(world.isvc()) == {"quickstart-classifier-predictor-00001": 100}
    assert world.deploy_statuses() == ["failure", "pending"]
    assert world.deployment_states() == ["failure", "in_progress"]
    pull = world.fake.pulls[NUMBER]
    assert not pull.merged and LABEL not in pull.labels and world.merges() == []


@via_prism
def test_head_moved_during_the_deploy_is_not_merged_and_says_what_is_deployed(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import kfops_action.deploy as engine

    real = engine.deploy

    def deploy_then_push(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        world.fake.push(NUMBER, "e" * 40)  # the author pushes while the rollout ran
        return result

    monkeypatch.setattr(engine, "deploy", deploy_then_push)
    world.seed_record()
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.FAILED
    body = world.body()
    assert "Deployed to production, but the pull request was NOT merged" in body
    assert f"Not merged: the head of #{NUMBER} moved after the command" in body
    assert "production now serves 100% -" in body and world.head in body
    pull = world.fake.pulls[NUMBER]
    assert not pull.merged and pull.state == "open"
    assert LABEL in pull.labels  # it is what production serves
    assert world.merges()[0]["sha"] == world.head
    assert world.deploy_statuses() == ["success", "pending"]


@via_prism
def test_head_moved_after_the_comment_is_refused_before_the_cluster(world: World,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real = rules.settings_for

    def push_first(*args: Any, **kwargs: Any) -> Any:  # the author pushes right after the pin
        world.fake.push(NUMBER, "e" * 40)
        return real(*args, **kwargs)

    monkeypatch.setattr(rules, "settings_for", push_first)
    world.seed_record()
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.NOT_READY
    assert f"the pull request head moved from {world.head[:7]} to eeeeeee after the command" in world.body()
    assert world.isvc() is None and world.deploy_statuses() == []


@via_prism
def test_lock_held_by_another_deploy_is_refused_naming_the_holder(world: World) -> None:
    from kubernetes import client

    from kfops_action.deploy.lock import _micro, _utcnow

    world.seed_record()
    client.CoordinationV1Api(world.kube_api.api_client()).create_namespaced_lease(world.namespace, {
        "metadata": {"name": f"kfops-deploy-{ISVC}", "annotations": {
            "kfops/pull-request": "kfops-org/model#5", "kfops/run-id": "run-other", "kfops/actor": "zoe"}},
        "spec": {"holderIdentity": "kfops/production/other", "leaseDurationSeconds": 900,
                 "acquireTime": _micro(_utcnow()), "renewTime": _micro(_utcnow())}})
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.NOT_READY
    body = world.body()
    assert "another deploy to production is in progress: PR kfops-org/model#5, run run-other, by zoe" in body
    assert world.isvc() is None and not world.fake.pulls[NUMBER].merged


@via_prism
def test_rbac_denial_is_reported_with_the_missing_permission(github: GitHubEndpoint, fake_kfp: Any,  # noqa: F811
                                                            kube_api: Any, namespace: str, kserve: Any,  # noqa: F811
                                                            mlmd: FakeMlmd, endpoint: ModelEndpoint,  # noqa: F811
                                                            tmp_path: Path) -> None:
    world = World(github, fake_kfp, kube_api, namespace, mlmd, endpoint, tmp_path, gate=False)
    limited = tmp_path / "limited-kubeconfig"
    limited.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "limited",
        "clusters": [{"name": "test", "cluster": {"server": kube_api.server,
                                                  "certificate-authority": str(kube_api.ca_cert)}}],
        "users": [{"name": "limited", "user": {"token": kube_api.limited_token}}],
        "contexts": [{"name": "limited", "context": {"cluster": "test", "user": "limited"}}]}))
    world.pr.env["KUBECONFIG"] = str(limited)
    world.seed_record()
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.FAILED
    body = world.body()
    assert "not allowed to get leases in namespace" in body and "(HTTP 403, RBAC)" in body
    assert "kubectl create role kfops-deployer" in body
    assert world.isvc() is None and not world.fake.pulls[NUMBER].merged
    # The lock read (/lock, the freeze) is the deploy's first cluster call and comes before its
    # records, like every refusal: nothing started, so no kfops/deploy status; the reply and the
    # check run say it failed.
    assert world.deploy_statuses() == []
    assert [run["conclusion"] for run in world.fake.check_runs.values()] == ["failure"]
    assert kube_api.limited_token not in body


@via_prism
def test_dry_run_renders_the_manifest_and_touches_nothing(world: World) -> None:
    world.seed_record()
    outcome = world.comment("/deploy --dry-run")
    assert outcome.outcome == d.SUCCEEDED, world.body()
    body = world.body()
    assert "Dry run: every requirement holds" in body and "s3://mlpipeline/v2/artifacts/" in body
    assert world.isvc() is None and world.merges() == [] and world.deploy_statuses() == []


@via_prism
def test_template_comes_from_the_base_branch_not_the_pr(world: World) -> None:
    """The checkout's template is ignored; a base branch without one is reported."""
    (world.pr.checkout / "inference-service.yaml").write_text("apiVersion: evil/v1\nkind: Pod\n")
    del world.fake.files[("main", "inference-service.yaml")]
    world.seed_record()
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.FAILED
    assert "inference-service.yaml does not exist on the base branch `main`" in world.body()
    assert world.isvc() is None


# -- pure parts --------------------------------------------------------------------------------------


def _run(sha: str = "a" * 40, state: str = "SUCCEEDED", run_id: str = "r1", pr: int = 7) -> RunRecord:
    return RunRecord(key="1", command="build_run", pr=pr, requested_by="a", sha=sha, run_id=run_id, state=state)


def test_choose_run_rules() -> None:
    head = "a" * 40
    assert rules.choose_run([_run()], head_sha=head, pr=7, command="deploy").run.run_id == "r1"  # type: ignore[union-attr]
    newest = rules.choose_run([_run(run_id="r1"), _run(run_id="r2")], head_sha=head, pr=7, command="deploy")
    assert isinstance(newest, rules.Chosen) and newest.run.run_id == "r2"
    old = rules.choose_run([_run(sha="b" * 40)], head_sha=head, pr=7, command="deploy")
    assert isinstance(old, rules.Refusal) and "bbbbbbb" in old.reason and "aaaaaaa" in old.reason
    forced = rules.choose_run([_run(sha="b" * 40)], head_sha=head, pr=7, command="deploy", force=True)
    assert isinstance(forced, rules.Chosen) and forced.warnings
    running = rules.choose_run([_run(state="RUNNING")], head_sha=head, pr=7, command="deploy")
    assert isinstance(running, rules.Refusal) and "still running" in running.reason
    failed = rules.choose_run([_run(state="FAILED")], head_sha=head, pr=7, command="deploy", run_id="r1")
    assert isinstance(failed, rules.Refusal) and "did not succeed" in failed.reason
    other = rules.choose_run([_run(pr=8)], head_sha=head, pr=7, command="deploy", run_id="r1")
    assert isinstance(other, rules.Refusal) and "not started from this pull request" in other.reason


def test_approvals_count_the_latest_review_of_the_deployed_commit_by_writers() -> None:
    head = "a" * 40

    def review(login: str, state: str, commit: str = head) -> dict[str, Any]:
        return {"user": {"login": login}, "state": state, "commit_id": commit}

    reviews = [review("ann", "APPROVED"), review("ann", "CHANGES_REQUESTED"), review("bo", "APPROVED"),
               review("bo", "COMMENTED"), review("cy", "APPROVED", "b" * 40), review("dee", "APPROVED"),
               review("author", "APPROVED")]
    got = rules.count_approvals(reviews, head_sha=head, author="author", may_approve=lambda u: u != "dee")
    assert got == rules.Approvals(("bo",), ("cy",), ("author", "dee"))
    assert rules.check_approvals(got, 1, head) is None
    refusal = rules.check_approvals(got, 2, head)
    assert refusal is not None and "needs 2 approving reviews" in refusal.reason and "`--force` does not" in refusal.reason


def test_mergeable_behind_default_branch_and_uris() -> None:
    assert rules.check_mergeable({"mergeable": None}, 7).refusal is not None
    assert rules.check_mergeable({"mergeable": True, "mergeable_state": "blocked"}, 7).warnings
    assert rules.check_mergeable({"mergeable": True, "mergeable_state": "clean"}, 7) == rules.Gate()
    assert rules.check_behind(1, "main", command="deploy", force=False, merges=True).refusal is not None
    assert rules.check_behind(1, "main", command="staging_deploy", force=False, merges=False).warnings
    assert rules.check_default_branch("main", "main") is None
    assert rules.check_default_branch("dev", "main") is not None
    assert rules.storage_uri("minio://mlpipeline/v2/x") == "s3://mlpipeline/v2/x"
    assert rules.storage_uri("gs://b/m") == "gs://b/m"
    assert rules.merges("production", {}) and not rules.merges("staging", {})
    assert not rules.merges("production", {"merge": False})
    run = RunRecord(key="1", command="run", pr=7, requested_by="a", sha="a", run_id="r",
                    artifacts={"train": {"model": ["4"], "metrics": ["5"]}, "export": {"onnx": ["6"]}})
    assert rules.model_candidates(run, None) == ["4"]
    assert rules.model_candidates(run, {"task": "export", "output": "onnx"}) == ["6"]
    assert isinstance(rules.model_candidates(run, {"task": "export"}), rules.Refusal)


def test_sigterm_during_the_rollout_raises_a_deploy_error() -> None:
    from kfops_action.chatops.deploy_handler import interrupts_raise
    from kfops_action.deploy.errors import DeployError

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(DeployError, match="stopped \\(SIGTERM\\)"):
        with interrupts_raise():
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before


def test_action_outputs_for_a_pipeline_run_and_a_refusal() -> None:
    from kfops_action.action_main import action_outputs

    run = _run().to_state()
    run["run"]["url"] = "https://kfp.example/#/runs/details/r1"
    outcome = d.Outcome("succeeded", "succeeded", "build_run", report={"state": "succeeded", "state_data": run})
    outputs = action_outputs(outcome)
    assert outputs["run-id"] == "r1" and outputs["run-url"].endswith("/r1") and outputs["deployed-url"] == ""
    denied = action_outputs(d.Outcome("denied", "", "deploy"))
    assert denied["command"] == "deploy" and json.loads(denied["result"])["outcome"] == "denied"


def test_write_outputs_scrubs_and_uses_github_output(tmp_path: Path) -> None:
    from kfops_action.action_main import write_outputs

    out = tmp_path / "out"
    out.write_text("")
    outcome = d.Outcome("failed", "x", "deploy", report={"state": "failed", "errors": ["token s3cr3t leaked"]})
    write_outputs(outcome, {"GITHUB_OUTPUT": str(out)}, scrub=lambda t: t.replace("s3cr3t", "***"))
    text = out.read_text()
    assert "command" in text and "s3cr3t" not in text and "***" in text


def test_cluster_credentials_missing_or_broken_are_explained(tmp_path: Path) -> None:
    from kfops_action.chatops.deploy_handler import kube_client
    from kfops_action.errors import KfopsError

    with pytest.raises(KfopsError, match="no credentials for the Kubernetes cluster") as missing:
        kube_client({"HOME": str(tmp_path)})
    assert "secrets.KFOPS_KUBECONFIG" in str(missing.value.fix)
    broken = tmp_path / "kubeconfig"
    broken.write_text("not: a kubeconfig\n")
    with pytest.raises(KfopsError, match="cannot use the kubeconfig"):
        kube_client({"KUBECONFIG": str(broken), "HOME": str(tmp_path)})


def test_base_branch_files_are_read_from_the_base_branch_only(tmp_path: Path) -> None:
    from kfops_action.chatops.deploy_handler import _no_checkout_imports, base_branch_files
    from kfops_action.errors import ConfigError

    class Files:
        def __init__(self) -> None:
            self.asked: list[tuple[str, str]] = []

        def get_file_text(self, path: str, ref: str) -> str | None:
            self.asked.append((path, ref))
            return {"ml/deploy/isvc.py": "X = 1\n"}.get(path)

    files = Files()
    with base_branch_files(files, "main", "ml/kfops.yaml", ["deploy/isvc.py"]) as folder:
        assert (folder / "deploy" / "isvc.py").read_text() == "X = 1\n"
    assert files.asked == [("ml/deploy/isvc.py", "main")]
    with pytest.raises(ConfigError, match="outside the repository"):
        with base_branch_files(files, "main", "kfops.yaml", ["../secrets.py"]):
            pass
    with pytest.raises(ConfigError, match="does not exist on the base branch `main`"):
        with base_branch_files(files, "main", "kfops.yaml", ["missing.yaml"]):
            pass
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        with _no_checkout_imports(tmp_path):
            assert str(tmp_path) not in sys.path and "" not in sys.path
        assert sys.path[0] == str(tmp_path)
    finally:
        sys.path.remove(str(tmp_path))
