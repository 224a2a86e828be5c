"""/lock, /unlock, the global freeze, and /status showing them, from PR comments to the cluster.

The real dispatcher and handlers, the fake GitHub (directly and behind Prism), the real
kube-apiserver: a lock is a Lease in the environment's namespace (read back here with the
Kubernetes client), and a deploy reads that Lease, not the label /status shows.
"""

from __future__ import annotations

from typing import Any

import pytest
from fakes.deploy_fixtures import admin, endpoint, kserve, namespace  # noqa: F401
from fakes.deploy_world import ISVC, World, mlmd, world  # noqa: F401
from fakes.github_prism import github  # noqa: F401

from kfops_action.chatops import dispatch as d
from kfops_action.chatops.authorize import DEFAULT_POLICY, Allowed, Denied, Policy, authorize, needed

STAGING = f"{ISVC}-staging"
via_prism = pytest.mark.parametrize("github", ["prism"], indirect=True)
direct = pytest.mark.parametrize("github", ["direct"], indirect=True)


def lease(world: World, name: str) -> Any:
    from kubernetes import client

    return client.CoordinationV1Api(world.kube_api.api_client()).read_namespaced_lease(name, world.namespace)


def last_reply(world: World) -> str:
    return world.pr.bot_comments()[-1]["body"]


@via_prism
def test_a_lock_keeps_others_out_lets_its_holder_deploy_and_a_maintainer_may_lift_it(world: World) -> None:
    world.seed_record()
    outcome = world.comment("/lock staging migrating the feature store", user="alice")
    assert outcome.outcome == d.SUCCEEDED, world.pr.logs + [world.body()]
    assert "🔒 Staging is locked by @alice. Deploys to staging by anyone but @alice are refused until " \
           "`/unlock staging`." in world.body()
    held = lease(world, f"kfops-lock-{STAGING}")                    # the cluster holds the truth
    assert held.spec.holder_identity == "kfops-lock/alice" and held.spec.lease_duration_seconds is None
    assert held.metadata.annotations["kfops/lock-reason"] == "migrating the feature store"
    assert held.metadata.annotations["kfops/pull-request"] == "kfops-org/model#7"
    label = world.fake.labels["kfops-lock:staging"]                  # what /status shows
    assert label["description"].startswith("@alice kfops-org/model#7 since ")
    assert label["description"].endswith(": migrating the feature store")

    outcome = world.comment("/staging_deploy", user="bob")           # someone else: refused, untouched
    assert outcome.outcome == d.NOT_READY
    body = world.body()
    assert "Not deployed to staging: staging is locked by @alice (kfops-org/model#7) since" in body
    assert "'migrating the feature store'" in body
    assert "@alice (or a maintainer) comments `/unlock staging` on any pull request" in body
    assert world.isvc(STAGING) is None and world.deployment_states("staging") == []

    assert world.comment("/staging_deploy", user="alice").outcome == d.SUCCEEDED, world.body()  # the holder may
    assert world.isvc(STAGING) is not None

    outcome = world.comment("/unlock staging", user="bob")           # not the holder, not a maintainer
    assert outcome.outcome == d.NOT_READY
    assert "Not unlocked: staging is held by @alice (kfops-org/model#7) since" in world.body()
    assert "Ask @alice to unlock it, or a maintainer may: `/unlock staging`." in world.body()
    assert lease(world, f"kfops-lock-{STAGING}").spec.holder_identity == "kfops-lock/alice"

    outcome = world.comment("/unlock staging", user="maria")         # a maintainer may
    assert outcome.outcome == d.SUCCEEDED, world.body()
    assert "🔓 Staging is unlocked (it was held by @alice (kfops-org/model#7) since" in world.body()
    released = lease(world, f"kfops-lock-{STAGING}")
    assert released.spec.holder_identity is None and released.metadata.annotations["kfops/unlocked-by"] == "maria"
    assert "kfops-lock:staging" not in world.fake.labels
    assert world.comment("/unlock staging", user="maria").outcome == d.SKIPPED
    assert "Staging was not locked: nothing to release." in world.body()


@direct
def test_someone_elses_lock_cannot_be_taken_over(world: World) -> None:
    assert world.comment("/lock", user="maria").outcome == d.SUCCEEDED, world.body()   # production
    world.fake.set_permission("olga", "admin")
    outcome = world.comment("/lock production mine now", user="olga")
    assert outcome.outcome == d.NOT_READY
    assert "Not locked: production is already locked by @maria (kfops-org/model#7) since" in world.body()
    assert "(no reason given)" in world.body()
    assert lease(world, f"kfops-lock-{ISVC}").spec.holder_identity == "kfops-lock/maria"


@via_prism
def test_the_global_freeze_stops_every_deploy_and_status_shows_it(world: World) -> None:
    world.seed_record()
    outcome = world.comment("/lock --global release freeze until Monday", user="maria")
    assert outcome.outcome == d.SUCCEEDED, world.pr.logs + [world.body()]
    assert "🔒 Every environment is frozen by @maria: every deploy is refused until `/unlock --global` " \
           "(`/rollback` still works)." in world.body()
    assert lease(world, "kfops-lock-global").spec.holder_identity == "kfops-lock/maria"

    outcome = world.comment("/staging_deploy", user="alice")
    assert outcome.outcome == d.NOT_READY
    assert "Not deployed to staging: every environment is frozen (/lock --global), so staging takes no deploy " \
           "by @maria (kfops-org/model#7) since" in world.body()
    assert world.isvc(STAGING) is None

    outcome = world.comment("/status", user="rita")                  # read access, no cluster credential
    assert outcome.outcome == d.SUCCEEDED, world.body()
    body = world.body()
    assert "freeze: @maria kfops-org/model#7 since" in body and ": release freeze until Monday" in body
    assert "the cluster's Lease decides at deploy time" in body

    assert world.comment("/unlock --global", user="maria").outcome == d.SUCCEEDED, world.body()
    assert "🔓 The freeze is lifted (it was held by @maria (kfops-org/model#7) since" in world.body()
    assert lease(world, "kfops-lock-global").spec.holder_identity is None
    assert world.comment("/status", user="rita").outcome == d.SUCCEEDED
    assert "Deploy locks" in world.body() and "none shown" in world.body()
    assert world.comment("/staging_deploy", user="alice").outcome == d.SUCCEEDED, world.body()


@direct
def test_the_lease_decides_not_the_label(world: World) -> None:
    """A lock taken with kubectl (no label) refuses a deploy; a label nobody's Lease backs does not."""
    from kfops_action.deploy.sticky_lock import StickyLocks

    world.seed_record()
    StickyLocks(world.kube_api.api_client(), world.namespace).take(
        "staging", STAGING, actor="ops-oncall", pr="kubectl", reason="node pool upgrade")
    assert world.comment("/staging_deploy", user="alice").outcome == d.NOT_READY
    assert "staging is locked by @ops-oncall (kubectl) since" in world.body()
    StickyLocks(world.kube_api.api_client(), world.namespace).release("staging", STAGING, actor="ops-oncall",
                                                                      override=False)
    world.pr.repo.ensure_label("kfops-lock:global", description="@mallory forged")   # a label alone
    assert world.comment("/staging_deploy", user="alice").outcome == d.SUCCEEDED, world.body()


@direct
def test_lock_arguments_are_checked_before_anything(world: World) -> None:
    assert world.comment("/lock --global staging", user="maria").outcome == d.BAD_ARGUMENTS
    assert "--global acts on every environment: drop `staging`, or drop --global" in last_reply(world)
    assert world.comment("/lock stagin oops", user="maria").outcome == d.BAD_ARGUMENTS
    assert "did you mean staging?" in last_reply(world)
    assert world.comment("/lock", user="alice").outcome == d.DENIED        # production needs maintain
    assert "@alice cannot run /lock here: it needs maintain, alice has write" in last_reply(world)


# -- who may run what: the environment's deploy rule, unless configured ----------------------------


@pytest.mark.parametrize(("command", "environment", "level", "allowed"), [
    ("rollback", None, "write", False), ("rollback", "production", "maintain", True),
    ("rollback", "staging", "write", True), ("rollback", "staging", "triage", False),
    ("undeploy", None, "write", True), ("lock", None, "write", False), ("lock", "staging", "write", True),
    ("unlock", "staging", "write", True), ("unlock", "production", "write", False),
])
def test_release_commands_follow_the_environments_deploy_rule(command: str, environment: str | None,
                                                              level: str, allowed: bool) -> None:
    verdict = authorize(command, user="alice", level=level, policy=DEFAULT_POLICY, fork=False,
                        environment=environment)
    assert isinstance(verdict, Allowed) == allowed, verdict


def test_a_configured_rule_wins_and_a_deploy_rule_carries_over() -> None:
    policy = Policy.from_config({"chatops": {"commands": {
        "staging_deploy": {"permission": "maintain"},
        "deploy": {"users": ["olga"]},
        "lock": {"permission": "write"}}}}, "kfops.yaml")
    assert isinstance(authorize("rollback", user="alice", level="write", policy=policy, fork=False,
                                environment="staging"), Denied)
    assert isinstance(authorize("rollback", user="olga", level="read", policy=policy, fork=False), Allowed)
    assert isinstance(authorize("lock", user="alice", level="write", policy=policy, fork=False), Allowed)
    assert needed("rollback", policy, "staging") == "maintain (as /staging_deploy, configured)"
    assert needed("lock", policy) == "write (chatops.commands.lock.permission)"


@direct
def test_through_the_action_entry_point_a_freeze_runs_in_the_production_deploy_job(world: World, tmp_path: Any) -> None:
    from test_chatops_queue import authorize_job, heavy_job

    comment = world.fake.add_comment(7, "/lock --global incident 4711", user="maria")
    outputs, _ = authorize_job(world.pr, tmp_path, comment, 961)
    assert (outputs["job"], outputs["environment"]) == ("deploy", "production")
    world.pr.last_comment = comment
    assert heavy_job(world.pr, tmp_path, comment, 961) == 0, world.body()
    assert lease(world, "kfops-lock-global").metadata.annotations["kfops/lock-reason"] == "incident 4711"
    comment = world.fake.add_comment(7, "/status", user="rita")
    outputs, _ = authorize_job(world.pr, tmp_path, comment, 962)
    assert outputs["job"] == "chat"
    world.pr.last_comment = comment
    assert heavy_job(world.pr, tmp_path, comment, 962) == 0
    assert "freeze: @maria kfops-org/model#7 since" in world.body() and "incident 4711" in world.body()
