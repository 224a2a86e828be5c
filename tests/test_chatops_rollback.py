"""/rollback and /undeploy from a PR comment to the cluster and back to GitHub.

The real dispatcher and handlers (the action's entry path, as tests/test_chatops_deploy.py drives
it); the fake GitHub (directly, and behind Prism for GitHub's own API description); the real
kube-apiserver with KServe's CRD and the controller stand-in, which moves
latestRolledoutRevision / previousRolledoutRevision as KServe's PropagateStatus does. Each test
asserts what the PRs and the GitHub deployments show and what the cluster serves afterwards.
"""

from __future__ import annotations

from typing import Any

import pytest
from fakes.deploy_fixtures import admin, endpoint, fast_timeouts, kserve, namespace  # noqa: F401
from fakes.action_flow import EXAMPLE, NUMBER
from fakes.deploy_world import ISVC, World, mlmd, world  # noqa: F401
from fakes.github_prism import github  # noqa: F401

from kfops_action.chatops import dispatch as d

LABEL = "Deployed-to-production"
RELEASING_PR = 8
via_prism = pytest.mark.parametrize("github", ["prism"], indirect=True)
direct = pytest.mark.parametrize("github", ["direct"], indirect=True)


def serving(obj: dict[str, Any] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for entry in (obj or {})["status"]["components"]["predictor"]["traffic"]:
        out[entry["revisionName"]] = out.get(entry["revisionName"], 0) + entry["percent"]
    return {k: v for k, v in out.items() if v}


def release(world: World, pr: int, run_id: str, environment: str = "production") -> None:
    """What a /deploy from pull request `pr` leaves in the cluster (its provenance annotations)."""
    from kfops_action.deploy import deploy
    from kfops_action.deploy.template import TemplateValues, load_manifest

    name = ISVC if environment == "production" else f"{ISVC}-staging"
    manifest = load_manifest("inference-service.yaml", EXAMPLE,
                             TemplateValues(name, world.namespace, f"s3://models/{run_id}/model", 10))
    deploy(world.kube_api.api_client(), environment=environment,
           settings={"namespace": world.namespace, "inference_service": name}, manifest=manifest,
           provenance={"pr": f"kfops-org/model#{pr}", "commit": "e" * 40, "run_id": run_id, "actor": "maria"},
           timeouts=fast_timeouts())


@via_prism
def test_rollback_puts_the_previous_release_back_and_tells_the_pr_that_made_the_bad_one(world: World) -> None:
    world.serve_in_production()                                    # revision 00001, from #3
    world.fake.add_pull(RELEASING_PR, head_sha="d" * 40, labels=[LABEL])
    release(world, RELEASING_PR, "run-bad")                        # revision 00002, from #8
    assert serving(world.isvc()) == {"quickstart-classifier-predictor-00002": 100}

    outcome = world.comment("/rollback")                           # from PR #7: any PR may roll back
    assert outcome.outcome == d.SUCCEEDED, world.pr.logs + [world.body()]
    body = world.body()
    assert "### ✅ `/rollback` succeeded" in body
    assert "Production rolled back: quickstart-classifier-predictor-00001 serves 100% again" in body
    assert "The release came from #8, which was told." in body
    # the cluster: all traffic on the previous revision, pinned; KServe recorded it as rolled out
    live = world.isvc()
    assert serving(live) == {"quickstart-classifier-predictor-00001": 100}
    assert live["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert live["status"]["components"]["predictor"]["latestRolledoutRevision"] == \
        "quickstart-classifier-predictor-00001"
    # the deploy Lease records who rolled back (its holder released)
    from kubernetes import client

    lease = client.CoordinationV1Api(world.kube_api.api_client()).read_namespaced_lease(
        f"kfops-deploy-{ISVC}", world.namespace)
    assert lease.metadata.annotations["kfops/operation"] == "rollback"
    assert lease.metadata.annotations["kfops/actor"] == "maria" and not lease.spec.holder_identity
    # the PR that made the rolled-back release is told, and no longer carries the label
    told = [c["body"] for c in world.fake.comments_on(RELEASING_PR) if c["_login"] == world.fake.bot_login]
    assert len(told) == 1 and "production was rolled back by @maria from #7" in told[0]
    assert "run `run-bad`" in told[0]
    assert LABEL not in world.fake.pulls[RELEASING_PR].labels
    # GitHub: a deployment of the rollback, successful, pointing at the service
    rollbacks = [dep for dep in world.fake.deployments.values() if dep["payload"].get("task") == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0]["environment"] == "production"
    assert rollbacks[0]["payload"]["rolled_back"]["pr"] == f"kfops-org/model#{RELEASING_PR}"
    [status] = world.fake.deployment_statuses[rollbacks[0]["id"]]
    assert status["state"] == "success" and status["environment_url"].startswith(world.endpoint.base)
    assert world.pr.reactions() == ["eyes", "rocket"]


@direct
def test_a_second_rollback_is_refused_and_says_how_to_go_further_back(world: World) -> None:
    world.serve_in_production()
    release(world, RELEASING_PR, "run-bad")
    assert world.comment("/rollback").outcome == d.SUCCEEDED, world.body()
    outcome = world.comment("/rollback")
    assert outcome.outcome == d.NOT_READY
    body = world.body()
    assert "Not rolled back: production is already rolled back (canaryTrafficPercent: 0 pins" in body
    assert "comment `/deploy` on the pull request whose model should serve" in body
    assert serving(world.isvc()) == {"quickstart-classifier-predictor-00001": 100}   # unchanged


@direct
def test_rollback_with_nothing_earlier_changes_nothing(world: World) -> None:
    outcome = world.comment("/rollback")
    assert outcome.outcome == d.NOT_READY
    assert f"Not rolled back: nothing to roll back: InferenceService {world.namespace}/{ISVC} does not exist" \
        in world.body()
    world.serve_in_production()                                    # one release only
    outcome = world.comment("/rollback")
    assert outcome.outcome == d.NOT_READY
    assert "KServe records no release before quickstart-classifier-predictor-00001" in world.body()
    live = world.isvc()
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]
    assert serving(live) == {"quickstart-classifier-predictor-00001": 100}


@direct
def test_rollback_permission_follows_the_environments_deploy_rule(world: World) -> None:
    world.serve_in_production()
    release(world, RELEASING_PR, "run-bad")
    outcome = world.comment("/rollback", user="alice")             # write: not enough for production
    assert outcome.outcome == d.DENIED
    assert "@alice cannot run /rollback here: it needs maintain, alice has write" in world.pr.bot_comments()[-1]["body"]
    assert serving(world.isvc()) == {"quickstart-classifier-predictor-00002": 100}
    outcome = world.comment("/rollback stagin", user="maria")     # a typo never picks an environment
    assert outcome.outcome == d.BAD_ARGUMENTS
    assert "Did you mean `staging`?" in world.pr.bot_comments()[-1]["body"]


@direct
def test_rollback_is_refused_while_someone_else_holds_the_environment_lock(world: World) -> None:
    from kfops_action.deploy.sticky_lock import StickyLocks

    world.serve_in_production()
    release(world, RELEASING_PR, "run-bad")
    StickyLocks(world.kube_api.api_client(), world.namespace).take(
        "production", ISVC, actor="bob", pr="kfops-org/model#9", reason="investigating the bad release")
    outcome = world.comment("/rollback")
    assert outcome.outcome == d.NOT_READY
    body = world.body()
    assert "Not rolled back: production is locked by @bob (kfops-org/model#9) since" in body
    assert "'investigating the bad release'" in body and "`/unlock`" in body
    assert serving(world.isvc()) == {"quickstart-classifier-predictor-00002": 100}


@via_prism
def test_undeploy_removes_staging_and_marks_its_deployment_inactive(world: World) -> None:
    world.seed_record()
    assert world.comment("/staging_deploy", user="alice").outcome == d.SUCCEEDED, world.body()
    assert world.isvc(f"{ISVC}-staging") is not None
    outcome = world.comment("/undeploy", user="alice")               # write is enough for staging
    assert outcome.outcome == d.SUCCEEDED, world.pr.logs + [world.body()]
    body = world.body()
    assert "Staging undeployed: InferenceService" in body and "staging serves nothing now" in body
    assert world.isvc(f"{ISVC}-staging") is None
    assert world.deployment_states("staging") == ["inactive", "success", "in_progress"]
    assert "Deployed-to-staging" not in world.fake.pulls[NUMBER].labels   # the release was this PR's
    # nothing left: a second /undeploy says so and changes nothing
    assert world.comment("/undeploy", user="alice").outcome == d.NOT_READY
    assert "Not undeployed: nothing to undeploy" in world.body()


@direct
def test_undeploy_is_not_for_production(world: World) -> None:
    world.serve_in_production()
    outcome = world.comment("/undeploy production")
    assert outcome.outcome == d.BAD_ARGUMENTS
    assert "/undeploy does not remove a production environment (`production`)" in world.pr.bot_comments()[-1]["body"]
    assert world.isvc() is not None


@direct
def test_through_the_action_entry_point_the_rollback_goes_to_the_deploy_job_of_its_environment(
        world: World, tmp_path: Any) -> None:
    """The workflow's two jobs: `python -m kfops_action` with `stage: accept` (the authorize job,
    whose outputs pick the job and the GitHub Environment), then the deploy job (action_main.run)."""
    from test_chatops_queue import authorize_job, heavy_job

    release(world, 3, "run-good", environment="staging")
    release(world, RELEASING_PR, "run-bad", environment="staging")
    comment = world.fake.add_comment(NUMBER, "/rollback staging", user="alice")
    outputs, _ = authorize_job(world.pr, tmp_path, comment, 951)
    assert (outputs["job"], outputs["environment"]) == ("deploy", "staging")
    world.pr.last_comment = comment
    assert heavy_job(world.pr, tmp_path, comment, 951) == 0, world.body()
    assert "Staging rolled back: quickstart-classifier-staging-predictor-00001 serves 100% again" in world.body()
    assert serving(world.isvc(f"{ISVC}-staging")) == {"quickstart-classifier-staging-predictor-00001": 100}


@direct
def test_a_freeze_stops_releases_but_not_the_way_back(world: World) -> None:
    from kfops_action.deploy.sticky_lock import StickyLocks

    world.serve_in_production()
    release(world, RELEASING_PR, "run-bad")
    StickyLocks(world.kube_api.api_client(), world.namespace).take(
        "global", None, actor="bob", pr="kfops-org/model#9", reason="release freeze")
    assert world.comment("/rollback").outcome == d.SUCCEEDED, world.body()
    assert serving(world.isvc()) == {"quickstart-classifier-predictor-00001": 100}
