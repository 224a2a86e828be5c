"""Security issue 14, item 3: a command acts on the commit its comment saw, not on the head when the
job starts.

The attack: a maintainer comments `/deploy` at A; before the queued job starts, the author pushes B
(and trains it with `/build_run`); the job would then deploy B's model and merge B. kfops reads
GitHub's activity log of the PR's branch (server timestamps, unlike commit dates) to find the head
at the comment, and refuses when the head moved since. Where the log tells nothing (forks, no
activity API), deploys need `--sha`; builds and runs pin the current head with a warning. And a
production deploy needs one approval by default.

Through the real dispatcher and handlers against the fake GitHub (behind Prism, with GitHub's own
description of GET /activity), the fake KFP, a real kube-apiserver with KServe's CRD.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.action_flow import NUMBER, PullRequest, make_checkout
from fakes.deploy_fixtures import admin, endpoint, kserve, namespace  # noqa: F401
from fakes.deploy_world import World, mlmd, world  # noqa: F401
from fakes.github_prism import GitHubEndpoint, github  # noqa: F401

from kfops_action.chatops import deploy_rules as rules
from kfops_action.chatops import dispatch as d
from kfops_action.chatops.command import ParsedCommand, parse
from kfops_action.chatops.head_pin import History, Move, history, pin
from kfops_action.chatops.requirements import NotReady, Ready
from kfops_action.config.validation import schema

B = "b0b0b0b0" * 5          # what the author pushes
via_prism = pytest.mark.parametrize("github", ["prism"], indirect=True)


def reply(pr: PullRequest) -> str:
    """The bot's last comment: a refusal before any work is a one-off reply."""
    return str(pr.bot_comments()[-1]["body"])


def push_trained_and_approved(world: World) -> None:
    """The author pushes B and trains it; carol (write) approves it: B would pass every other rule."""
    world.fake.push(NUMBER, B)
    world.seed_record(sha=B)
    world.fake.set_permission("carol", "write")
    world.fake.add_review(NUMBER, "carol", commit_id=B)


def nothing_deployed(world: World) -> None:
    pull = world.fake.pulls[NUMBER]
    assert world.isvc() is None and world.fake.deployments == {} and world.deploy_statuses() == []
    assert world.merges() == [] and not pull.merged and pull.state == "open"


# -- (a) and (b): the activity log decides --------------------------------------------------------------


def test_deploy_refused_when_the_head_moved_after_the_comment(world: World) -> None:
    world.seed_record()
    outcome = world.pr.comment("/deploy", user="maria", before_job=lambda: push_trained_and_approved(world))
    assert outcome.outcome == d.NOT_READY and outcome.exit_code == 0
    text = reply(world.pr)
    assert (f"the pull request's head moved after your comment: {world.head[:7]} -> {B[:7]}, pushed by @alice "
            "at 2025-01-06T09:") in text
    assert f"comment `/deploy` again to run on {B[:7]}" in text
    nothing_deployed(world)
    assert world.pr.reactions() == ["eyes", "confused"]


@via_prism
def test_deploy_proceeds_when_the_push_came_before_the_comment(world: World) -> None:
    world.seed_record()
    push_trained_and_approved(world)
    outcome = world.comment("/deploy")
    assert outcome.outcome == d.SUCCEEDED, world.pr.logs + [world.body()]
    assert world.isvc()["metadata"]["annotations"]["kfops/commit"] == B
    assert world.merges()[0]["sha"] == B and world.fake.pulls[NUMBER].merged
    assert [r.query for r in world.fake.requests if r.path.endswith("/activity")] == [
        {"ref": ["refs/heads/feature"], "direction": ["desc"], "per_page": ["10"]}]


# -- (c) where the log tells nothing: --sha ------------------------------------------------------------


def _fork(world: World) -> None:
    world.fake.pulls[NUMBER].fork = "alice/model"
    data = yaml.safe_load(world.base)
    data["chatops"]["allow_forks"] = True
    world.fake.add_file("kfops.yaml", yaml.safe_dump(data, sort_keys=False), ref="main")


def _no_activity_api(world: World) -> None:
    world.fake.activity_api = False


@via_prism
@pytest.mark.parametrize("unknown", [_fork, _no_activity_api], ids=["fork", "no activity API"])
def test_without_the_log_a_deploy_needs_the_sha(world: World, unknown: Any) -> None:
    unknown(world)
    world.seed_record()
    a7 = world.head[:7]

    assert world.comment("/deploy").outcome == d.NOT_READY
    text = reply(world.pr)
    assert "kfops cannot tell which commit the pull request was at when you commented" in text
    assert f"If {a7} (`{world.head}`) is the commit you reviewed, comment `/deploy --sha {a7}`" in text

    # the author pushes while `/deploy --sha A` waits: refused, the SHA is not the head
    outcome = world.pr.comment(f"/deploy --sha {a7}", user="maria", before_job=lambda: world.fake.push(NUMBER, B))
    assert outcome.outcome == d.NOT_READY
    assert f"`--sha {a7}` is not the pull request's head, which is {B[:7]} (`{B}`)" in reply(world.pr)
    nothing_deployed(world)

    world.fake.push(NUMBER, world.head, force=True)  # back at A
    outcome = world.comment(f"/deploy --sha {a7}")
    assert outcome.outcome == d.SUCCEEDED, world.pr.logs + [world.body()]
    assert world.merges()[0]["sha"] == world.head and world.fake.pulls[NUMBER].merged


# -- (d) builds and runs too ---------------------------------------------------------------------------


def test_build_run_refused_after_a_push_that_followed_the_comment(github: GitHubEndpoint, fake_kfp: Any,  # noqa: F811
                                                                   tmp_path: Path) -> None:
    checkout, head = make_checkout(tmp_path)
    pr = PullRequest(github, fake_kfp.url, fake_kfp.token, checkout, head, summary=tmp_path / "summary.md")
    outcome = pr.comment("/build_run", before_job=lambda: pr.fake.push(NUMBER, B))
    assert outcome.outcome == d.NOT_READY
    assert f"head moved after your comment: {head[:7]} -> {B[:7]}, pushed by @alice" in reply(pr)
    assert not fake_kfp.runs and pr.commit_states() == []


# -- the default: one approval for production ------------------------------------------------------------


@via_prism
def test_production_needs_one_approval_by_default(world: World) -> None:
    world.fake.pulls[NUMBER].reviews.clear()
    world.seed_record()
    assert world.comment("/deploy").outcome == d.NOT_READY
    assert f"this deploy needs 1 approving review of {world.head[:7]}, it has 0" in world.body()
    assert world.isvc() is None
    assert world.comment("/staging_deploy").outcome == d.SUCCEEDED, world.body()  # staging needs none


def test_approval_defaults_agree_with_the_schema() -> None:
    deployment = schema()["properties"]["deployment"]["properties"]
    environment = schema()["$defs"]["environment"]["properties"]["required_approvals"]
    assert deployment["production"]["properties"]["required_approvals"]["default"] == 1
    assert "properties" not in deployment["staging"] and environment["default"] == 0
    assert rules.required_approvals("eu-prod", {"production": True}) == 1 and rules.required_approvals("qa", {}) == 0
    assert rules.required_approvals("production", {}) == 1 and rules.required_approvals("staging", {}) == 0
    assert rules.required_approvals("production", {"required_approvals": 0}) == 0


# -- the rules, pure -----------------------------------------------------------------------------------


A = "a1" * 20
COMMENT_AT = "2025-01-06T09:00:10Z"


def activity(before: str, after: str, at: str, actor: str = "alice", kind: str = "push") -> dict[str, Any]:
    return {"before": before, "after": after, "timestamp": at, "activity_type": kind, "actor": {"login": actor}}


def command(text: str) -> ParsedCommand:
    parsed = parse(text)
    assert isinstance(parsed, ParsedCommand), parsed
    return parsed


def test_history_is_the_head_at_the_comment_from_server_times() -> None:
    created = activity("0" * 40, A, "2025-01-06T09:00:00Z", kind="branch_creation")
    moved = activity(A, B, "2025-01-06T09:00:30Z", actor="mallory")
    assert history([moved, created], COMMENT_AT, "feature") == History(A, Move(B, "mallory", "2025-01-06T09:00:30Z"))
    assert history([created], COMMENT_AT, "feature") == History(A)
    # a push in the same second as the comment counts as after it: the commenter cannot have seen it
    same = activity(A, B, COMMENT_AT)
    assert history([same, created], COMMENT_AT, "feature").at_comment == A
    # older entries expired: the `before` of the oldest entry after the comment
    assert history([moved], COMMENT_AT, "feature").at_comment == A
    # nothing usable: unknown, with the reason
    assert "has nothing on `feature`" in history([], COMMENT_AT, "feature").unknown
    assert "cannot read" in history([{"after": B}], COMMENT_AT, "feature").unknown
    assert "when the comment was written" in history([created], None, "feature").unknown
    late = activity("0" * 40, A, "2025-01-06T09:01:00Z", kind="branch_creation")
    assert history([late], COMMENT_AT, "feature").at_comment is None


def test_pin_rules() -> None:
    known, unknown = History(A), History(None, unknown="a fork")
    assert pin(command("/deploy"), A, known) == Ready(A)
    assert isinstance(pin(command("/deploy"), B, known), NotReady)
    assert isinstance(pin(command("/build"), B, known), NotReady)
    # --sha is checked whenever given, and the log as well when there is one
    assert pin(command(f"/deploy --sha {A[:7].upper()}"), A, unknown) == Ready(A)
    assert pin(command(f"/deploy --sha {A}"), A, known) == Ready(A)
    assert isinstance(pin(command(f"/deploy --sha {A[:7]}"), B, unknown), NotReady)
    assert isinstance(pin(command(f"/deploy --sha {B[:7]}"), B, known), NotReady)
    # without the log: deploys refuse, naming the retry; builds, runs and dry runs warn
    refused = pin(command("/staging_deploy --run-id r-1 --force"), A, unknown)
    assert isinstance(refused, NotReady)
    assert f"comment `/staging_deploy --run-id r-1 --sha {A[:7]} --force`" in refused.problem
    for text in ("/build_run", "/run", "/deploy --dry-run"):
        ready = pin(command(text), A, unknown)
        assert isinstance(ready, Ready) and "could not check that the head did not move" in ready.warnings[0]


@pytest.mark.parametrize(("text", "problem"), [
    ("/deploy --sha abc12", "is not a commit SHA"),
    ("/deploy --sha xyz1234", "is not a commit SHA"),
    ("/deploy --sha abc1234 --sha abc1234", "--sha is given twice"),
    ("/status --sha abc1234", "/status does not take --sha"),
])
def test_sha_option_is_checked(text: str, problem: str) -> None:
    parsed = parse(text)
    assert problem in getattr(parsed, "problem", ""), parsed


def test_build_run_warns_when_the_head_cannot_be_checked() -> None:
    """A fork allowed by the config: the build goes on at the current head, and its report says so."""
    from test_chatops_dispatch import BaseBranch, FakeGitHub, pull_json, run

    github = FakeGitHub(pull=pull_json(head_repo="mallory/model"))
    base = BaseBranch("pipeline: {file: p.py, function: f}\nchatops:\n  allow_forks: true\n")
    outcome, github, _, handlers = run("/build_run", github=github, base=base)
    assert outcome.outcome == d.SUCCEEDED and len(handlers["build_run"].contexts) == 1
    assert "branch_activity" not in github.names()  # a fork's pushes are not in this repository's log
    assert "comes from a fork" in github.report() and "Add `--sha COMMIT`" in github.report()


def test_branch_activity_follows_githubs_cursor(github: GitHubEndpoint) -> None:  # noqa: F811
    fake = github.fake
    fake.add_pull(NUMBER, head_sha=A)
    shas = [f"{i:040x}" for i in range(1, 13)]
    for sha in shas:
        fake.push(NUMBER, sha)
    found = list(github.repo().branch_activity("feature", per_page=5))
    assert [a["after"] for a in found] == [*reversed(shas), A]
    assert found[-1]["activity_type"] == "branch_creation" and found[0]["actor"]["login"] == "alice"
    assert json.dumps(found)  # plain data
    assert fake.count("GET", "/activity$") == 3
