"""The release gates of `deployment.gates` (kfops_action/chatops/gates.py): drafts, CI checks,
staging before production, the model's age.

End to end, as tests/test_chatops_deploy.py: a comment through the real dispatcher and handlers
(the path `kfops-action` takes), GitHub's side on the fake GitHub behind Prism (GitHub's own API
description checks every request and answer), the cluster on the real kube-apiserver with KServe's
CRD. Each test asserts what the PR shows and whether the cluster was touched. The pure verdicts
have unit tests at the end.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from fakes.action_flow import NUMBER
from fakes.deploy_fixtures import admin, endpoint, kserve, namespace  # noqa: F401
from fakes.deploy_world import World, mlmd, world  # noqa: F401
from fakes.github_prism import GitHubEndpoint, github  # noqa: F401

from kfops_action.chatops import dispatch as d
from kfops_action.chatops import gates

via_prism = pytest.mark.parametrize("github", ["prism"], indirect=True)
STAGING = "quickstart-classifier-staging"


def set_gates(world: World, **settings: Any) -> None:
    """`deployment.gates` in kfops.yaml on the base branch."""
    data = yaml.safe_load(world.base)
    data["deployment"]["gates"] = settings
    world.fake.add_file("kfops.yaml", yaml.safe_dump(data, sort_keys=False), ref="main")


def untouched(world: World) -> bool:
    return world.isvc() is None and world.isvc(STAGING) is None and world.deploy_statuses() == [] \
        and world.merges() == [] and world.fake.deployments == {}


# -- drafts --------------------------------------------------------------------------------------------


@via_prism
def test_a_draft_is_refused_by_default_and_may_go_to_the_environments_listed(world: World) -> None:
    world.fake.pulls[NUMBER].draft = True
    world.seed_record()
    outcome = world.comment("/staging_deploy", user="alice")
    assert outcome.outcome == d.NOT_READY and outcome.exit_code == 0
    body = world.body()
    assert "### ⛔ `/staging_deploy` refused" in body
    assert "pull request #7 is a draft, and drafts do not deploy to staging (gate `allow_drafts`" in body
    assert "Mark it ready for review" in body and untouched(world)

    set_gates(world, allow_drafts=["staging"])
    assert world.comment("/staging_deploy", user="alice").outcome == d.SUCCEEDED, world.body()
    assert world.isvc(STAGING) is not None
    outcome = world.comment("/deploy")  # production is not listed
    assert outcome.outcome == d.NOT_READY
    assert "drafts do not deploy to production" in world.body() and world.isvc() is None


# -- CI checks -----------------------------------------------------------------------------------------


@via_prism
def test_failing_and_pending_ci_refuse_and_kfops_own_checks_do_not_count(world: World) -> None:
    world.seed_record()
    world.fake.add_check_run(world.head, "unit-tests", conclusion="failure")
    world.fake.add_check_run(world.head, "lint", status="in_progress", conclusion=None)
    world.fake.add_status(world.head, "ci/coverage", "pending")
    world.fake.add_status(world.head, "docs", "success")
    world.fake.add_check_run(world.head, "kfops /build_run", conclusion="failure")   # kfops' own
    world.fake.add_status(world.head, "kfops/run", "failure", creator=world.fake.bot_login)
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.NOT_READY
    body = world.body()
    assert f"CI has not passed on {world.head[:7]}: failing: `unit-tests` (failure); not finished: " \
           "`ci/coverage` (pending), `lint` (in_progress)" in body
    assert "gate `required_checks` of `deployment.gates` on the base branch" in body
    assert "kfops" not in body.split("CI has not passed")[1].split("(gate")[0]  # own checks not listed
    assert untouched(world)

    # CI goes green (a newer run of the same check wins; statuses: the newest of a context)
    world.fake.add_check_run(world.head, "unit-tests", conclusion="success")
    world.fake.add_check_run(world.head, "lint", conclusion="skipped")
    world.fake.add_status(world.head, "ci/coverage", "success")
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.SUCCEEDED, world.body()
    assert world.fake.pulls[NUMBER].merged


@via_prism
def test_named_checks_must_have_reported_and_none_reads_no_check(world: World) -> None:
    world.seed_record()
    world.fake.add_check_run(world.head, "flaky-e2e", conclusion="failure")
    world.fake.add_check_run(world.head, "unit-tests", conclusion="success")
    set_gates(world, required_checks=["unit-tests", "security-scan"])
    assert world.comment("/staging_deploy", user="alice").outcome == d.NOT_READY
    body = world.body()
    assert "not reported: `security-scan`" in body and "flaky-e2e" not in body
    assert "Wait until they have passed and comment `/staging_deploy` again" in body

    set_gates(world, required_checks="all", ignored_checks=["flaky-e2e"])
    assert world.comment("/staging_deploy", user="alice").outcome == d.SUCCEEDED, world.body()

    set_gates(world, required_checks="none")
    world.fake.add_check_run(world.head, "unit-tests", conclusion="failure")
    reads = world.fake.count("GET", r"/check-runs$")
    assert world.comment("/staging_deploy", user="alice").outcome == d.SUCCEEDED, world.body()
    assert world.fake.count("GET", r"/commits/[^/]+/check-runs$") == reads  # not even read


@via_prism
def test_a_token_that_cannot_read_checks_refuses_with_the_permission_to_add(world: World) -> None:
    world.fake.checks_forbidden = True
    world.seed_record()
    outcome = world.comment("/staging_deploy", user="alice")
    assert outcome.outcome == d.NOT_READY and outcome.exit_code == 0
    body = world.body()
    assert f"kfops cannot read the CI checks of {world.head[:7]} (GitHub answered 403" in body
    assert "Give the deploy job `permissions: checks: write` (or `checks: read`), or set `required_checks: none`" \
        in body
    assert "the check run kfops /staging_deploy could not be written" in body  # its own check run: a warning
    assert untouched(world)


# -- staging before production ----------------------------------------------------------------------------


@via_prism
def test_production_needs_a_successful_staging_deploy_of_the_same_commit(world: World) -> None:
    set_gates(world, require_staging=True)
    world.seed_record()
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.NOT_READY
    body = world.body()
    assert f"{world.head[:7]} has not been deployed to staging successfully, and gate `require_staging`" in body
    assert "Comment `/staging_deploy`, check the model there, then `/deploy`." in body
    assert world.isvc() is None

    # successful staging deployments that kfops did not record do not count: another workflow's
    # (no kfops key in the payload), and one with the key but created by another account
    repo = world.pr.repo
    other = repo.create_deployment(sha=world.head, environment="staging")
    repo.set_deployment_status(other, state="success")
    forged = repo.create_deployment(sha=world.head, environment="staging", key="12345")
    repo.set_deployment_status(forged, state="success")
    world.fake.deployments[forged]["creator"] = world.fake.user_json("ops-bot")
    assert world.comment("/deploy").outcome == d.NOT_READY
    assert "has not been deployed to staging successfully" in world.body() and world.isvc() is None

    assert world.comment("/staging_deploy", user="alice").outcome == d.SUCCEEDED, world.body()
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.SUCCEEDED, world.body()
    assert world.isvc() is not None and world.fake.pulls[NUMBER].merged


# -- the model's age -----------------------------------------------------------------------------------


@via_prism
def test_a_model_older_than_max_model_age_is_refused_by_kubeflows_time(world: World) -> None:
    set_gates(world, max_model_age="7d")
    old = world.seed_record()
    finished = datetime.now(timezone.utc) - timedelta(days=9, hours=2)
    world.fake_kfp.runs[old.run_id].finished_at = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
    outcome = world.comment("/staging_deploy", user="alice")
    assert outcome.outcome == d.NOT_READY
    body = world.body()
    assert f"the model of run `{old.run_id}` is 9d 2h old (the run finished {finished:%Y-%m-%dT%H:%M:%SZ}, " \
           "by Kubeflow's record), older than gate `max_model_age` (7d)" in body
    assert "Run `/build_run` to train it again" in body and untouched(world)

    fresh = world.seed_record()
    assert world.comment("/staging_deploy", user="alice").outcome == d.SUCCEEDED, world.body()
    assert world.isvc(STAGING)["metadata"]["annotations"]["kfops/run-id"] == fresh.run_id


# -- bad configuration ----------------------------------------------------------------------------------


@via_prism
def test_a_malformed_gate_is_a_config_error_naming_the_key(world: World) -> None:
    set_gates(world, max_model_age="7 days", required_checks="some")
    world.seed_record()
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.CONFIG_ERROR
    [reply] = [b for b in world.fake.bodies(NUMBER) if "deployment.gates" in b]
    assert "deployment.gates.max_model_age" in reply and "e.g. 7d" in reply
    assert "deployment.gates.required_checks" in reply and "all, none, or a list of check names" in reply
    assert untouched(world)


# -- pure verdicts ---------------------------------------------------------------------------------------


def test_defaults_are_all_checks_no_drafts_no_staging_no_age_limit() -> None:
    policy = gates.Gates.from_config({"deployment": {}})
    assert policy == gates.Gates("all", (), False, False, None)
    assert gates.check_drafts(policy, draft=True, environment="staging", number=1, command="staging_deploy")
    assert gates.check_ci(policy, [], sha="a" * 40, command="deploy") is None  # no CI at all passes
    assert gates.check_staging(policy, environment="production", sha="a" * 40, staged_id=None, last_state=None) is None
    assert gates.check_model_age(policy, run_id="r", finished_at=None, now=datetime.now(timezone.utc)) is None


def test_ci_checks_take_the_newest_of_each_name_and_leave_out_kfops() -> None:
    runs = [{"id": 1, "name": "test", "status": "completed", "conclusion": "failure"},
            {"id": 5, "name": "test", "status": "completed", "conclusion": "success"},
            {"id": 3, "name": "build", "status": "completed", "conclusion": "neutral"},
            {"id": 4, "name": "kfops /deploy", "status": "in_progress", "conclusion": None}]
    statuses = [{"context": "ci/x", "state": "error"}, {"context": "ci/x", "state": "success"},
                {"context": "kfops/deploy", "state": "pending"}]
    found = gates.ci_checks(runs, statuses)
    assert [(c.name, c.outcome, c.detail) for c in found] == [
        ("build", "passed", "neutral"), ("ci/x", "failed", "error"), ("test", "passed", "success")]


def test_staging_evidence_is_a_success_among_kfops_own_deployments_of_that_commit() -> None:
    sha = "a" * 40
    deployments = [({"id": 2, "sha": sha}, [{"state": "failure"}, {"state": "in_progress"}]),
                   ({"id": 1, "sha": sha}, [{"state": "inactive"}, {"state": "success"}])]
    assert gates.staged(deployments, sha=sha) == (1, "success")
    assert gates.staged(deployments[:1], sha=sha) == (None, "failure")
    refusal = gates.check_staging(gates.Gates(require_staging=True), environment="production", sha=sha,
                                  staged_id=None, last_state="failure")
    assert refusal is not None and "its last staging deploy ended `failure`" in refusal.reason
    assert gates.check_staging(gates.Gates(require_staging=True), environment="staging", sha=sha,
                               staged_id=None, last_state=None) is None


@pytest.mark.parametrize(("text", "expected"), [("90m", timedelta(minutes=90)), ("12h", timedelta(hours=12)),
                                                ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2))])
def test_age_limits(text: str, expected: timedelta) -> None:
    assert gates.age_limit(text) == expected


# -- the conversation in docs/commands.md ------------------------------------------------------------------

#: (title, what the example shows, the comment, who, how the PR is before it)
GATE_EXCHANGES: tuple[tuple[str, str, str, str], ...] = (
    ("a draft", "Drafts do not deploy by default (`allow_drafts`).", "/staging_deploy", "alice"),
    ("CI not green", "A failing check run and a pending status on the head (`required_checks: all`, the default).",
     "/deploy", "maria"),
    ("staging first", "`require_staging: true`: production needs a successful `/staging_deploy` of the same commit.",
     "/deploy", "maria"),
    ("a stale model", "`max_model_age: 7d`: the run finished nine days ago, by Kubeflow's record.",
     "/staging_deploy", "alice"),
)


def gates_conversation(world: World) -> str:
    """The refusals of GATE_EXCHANGES, then the check run a /deploy leaves in the Checks tab."""
    import docs_capture

    urls = {world.fake_kfp.url: docs_capture.KFP, world.namespace: "models",
            world.endpoint.base: "https://models.example.com"}

    def shown(text: str) -> str:
        text = docs_capture.normalise(text, head=world.head, urls=urls)
        text = re.sub(r"\brun-[0-9a-f]{8}\b", "run-5f3a9c1e", text)
        text = re.sub(r"\b\d+d \d+h old\b", "9d 2h old", text)
        return re.sub(r"\| `\d+\.\d` \|", "| `2.0` |", text)

    record = world.seed_record()
    parts: list[str] = []
    for title, note, body, user in GATE_EXCHANGES:
        world.fake.pulls[NUMBER].draft = title == "a draft"
        if title == "CI not green":
            world.fake.add_check_run(world.head, "unit-tests", conclusion="failure")
            world.fake.add_status(world.head, "ci/coverage", "pending")
        if title == "staging first":
            world.fake.add_check_run(world.head, "unit-tests", conclusion="success")
            world.fake.add_status(world.head, "ci/coverage", "success")
            set_gates(world, require_staging=True)
        if title == "a stale model":
            set_gates(world, require_staging=True, max_model_age="7d")
            finished = datetime.now(timezone.utc) - timedelta(days=9, hours=2)
            world.fake_kfp.runs[record.run_id].finished_at = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert world.comment(body, user=user).outcome == d.NOT_READY, world.body()
        parts.append(f"#### {title}\n\n{note}\n\n**@{user}** commented:\n\n> {body}\n\n**kfops** answered:\n\n"
                     + docs_capture.quote(shown(world.body())) + "\n")
    fresh = world.seed_record()
    assert world.comment("/staging_deploy", user="alice").outcome == d.SUCCEEDED, world.body()
    assert world.comment("/deploy").outcome == d.SUCCEEDED, world.body()
    check = [world.fake.check_run_json(r) for r in world.fake.check_runs.values() if r["name"] == "kfops /deploy"][-1]
    assert check["details_url"].endswith(f"/runs/details/{fresh.run_id}")
    parts.append("#### the check run of `/deploy`\n\nAfter `/staging_deploy` of a fresh run, `/deploy` succeeds; "
                 "besides its comment, the pull request's Checks tab shows:\n\n"
                 f"**{check['name']}**: {check['conclusion']} · Details: {shown(check['details_url'])}\n\n"
                 + docs_capture.quote(f"**{check['output']['title']}**\n\n" + shown(check["output"]["summary"])) + "\n")
    return "\n".join(parts)


@via_prism
def test_gates_conversation_in_the_docs(world: World) -> None:
    from test_docs import check_block

    content = gates_conversation(world)
    for expected in ("drafts do not deploy to staging", "failing: `unit-tests` (failure)",
                     "has not been deployed to staging successfully", "9d 2h old", "**kfops /deploy**: success"):
        assert expected in content, expected
    assert "127.0.0.1" not in content
    check_block("commands.md", "gates-conversation", content)
