"""The dispatcher with an in-memory GitHub: what is posted, what reacts, what runs (and what never does)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from kfops_action.chatops import dispatch as d
from kfops_action.chatops.dispatch import CommandContext, Result, dispatch
from kfops_action.chatops.event import CommentEvent, Ignored, read_event
from kfops_action.chatops.handlers import AVAILABLE
from kfops_action.chatops.replies import MARKER
from kfops_action.errors import KfopsError, RunFailed
from kfops_action.github.client import GitHubError

SHA = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
TOKEN = "ghs_secretsecretsecret"


@dataclass
class FakeStatus:
    """A status comment in memory: every body it was updated to."""

    key: str
    bodies: list[str] = field(default_factory=list)
    url: str | None = "https://github.test/acme/model/pull/7#issuecomment-1"

    def update(self, body: str, *, force: bool = False) -> bool:
        if self.bodies and self.bodies[-1] == body:
            return False
        self.bodies.append(body)
        return True

    def adopt(self, record: Any) -> None:
        pass


@dataclass
class FakeGitHub:
    """GitHubPort in memory; `calls` records every call in order."""

    permissions: dict[str, str] = field(default_factory=lambda: {"alice": "write"})
    pull: dict[str, Any] = field(default_factory=lambda: pull_json())
    teams: dict[str, set[str]] = field(default_factory=dict)
    fail_teams: bool = False
    fail_reactions: bool = False
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    reactions: list[str] = field(default_factory=list)
    statuses: dict[str, FakeStatus] = field(default_factory=dict)
    commit_statuses: list[dict[str, Any]] = field(default_factory=list)
    # the branch's activity log, newest first: created at SHA before the comment
    activity: list[dict[str, Any]] = field(default_factory=lambda: [
        {"before": "0" * 40, "after": SHA, "timestamp": "2024-05-01T09:00:00Z", "activity_type": "branch_creation",
         "actor": {"login": "alice"}}])

    def get_permission(self, user: str) -> str:
        self.calls.append(("get_permission", user))
        return self.permissions.get(user, "none")

    def get_pull(self, number: int) -> dict[str, Any]:
        self.calls.append(("get_pull", number))
        return copy.deepcopy(self.pull)

    def branch_activity(self, branch: str) -> list[dict[str, Any]]:
        self.calls.append(("branch_activity", branch))
        return copy.deepcopy(self.activity)

    def is_team_member(self, org: str, team: str, user: str) -> bool:
        self.calls.append(("is_team_member", org, team, user))
        if self.fail_teams:
            raise GitHubError(f"cannot check whether {user} is in {org}/{team}: GitHub answered 403")
        return user in self.teams.get(f"{org}/{team}", set())

    def add_reaction(self, comment_id: int, content: str) -> None:
        self.calls.append(("add_reaction", comment_id, content))
        if self.fail_reactions:
            raise GitHubError("cannot add a reaction: GitHub answered 403")
        self.reactions.append(content)

    def post_comment(self, number: int, body: str) -> None:
        self.calls.append(("post_comment", number))
        assert number == 7
        self.comments.append(body)

    def status_comment(self, issue: int, key: str, *, resume: bool = False) -> FakeStatus:
        self.calls.append(("status_comment", issue, key))
        return self.statuses.setdefault(key, FakeStatus(key))

    def status_comments(self, issue: int) -> list[Any]:
        self.calls.append(("status_comments", issue))
        return []

    def set_status(self, sha: str, **kw: Any) -> None:
        self.calls.append(("set_status", sha))
        self.commit_statuses.append({"sha": sha, **kw})

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def report(self, key: str = "1001") -> str:
        """The final body of the status comment of invocation `key`."""
        return self.statuses[key].bodies[-1]


def pull_json(*, state: str = "open", head_repo: str | None = "acme/model", base_ref: str = "main") -> dict[str, Any]:
    return {"number": 7, "state": state,
            "head": {"sha": SHA, "ref": "tune-lr", "repo": {"full_name": head_repo} if head_repo else None},
            "base": {"ref": base_ref, "repo": {"full_name": "acme/model"}}}


def event(body: str, *, user: str = "alice", user_type: str = "User", action: str = "created",
          pr: bool = True, state: str = "open") -> dict[str, Any]:
    issue: dict[str, Any] = {"number": 7, "state": state, "title": "Tune the learning rate"}
    if pr:
        issue["pull_request"] = {"url": "https://api.github.test/repos/acme/model/pulls/7"}
    return {"action": action, "issue": issue,
            "comment": {"id": 1001, "body": body, "user": {"login": user, "type": user_type},
                        "created_at": "2024-05-01T10:00:00Z"},
            "repository": {"full_name": "acme/model", "default_branch": "main"}}


class BaseBranch:
    """The base-branch config source; records which refs were asked for."""

    def __init__(self, text: str | None = None) -> None:
        self.text = text
        self.refs: list[str] = []

    def __call__(self, ref: str) -> str | None:
        self.refs.append(ref)
        return self.text


class Spy:
    """A handler that records its contexts and returns (or raises) what it is told."""

    def __init__(self, result: Result | Exception | Callable[[CommandContext], Result] = Result.of("succeeded")) -> None:
        self.result = result
        self.contexts: list[CommandContext] = []

    def __call__(self, context: CommandContext) -> Result:
        self.contexts.append(context)
        if isinstance(self.result, Exception):
            raise self.result
        if callable(self.result):
            return self.result(context)
        return self.result


def run(body: str, *, github: FakeGitHub | None = None, base: BaseBranch | None = None,
        handlers: dict[str, Spy] | None = None, **event_kw: Any) -> tuple[d.Outcome, FakeGitHub, BaseBranch,
                                                                         dict[str, Spy]]:
    github = github or FakeGitHub()
    base = base or BaseBranch()
    handlers = handlers if handlers is not None else {name: Spy() for name in sorted(AVAILABLE)}
    logs: list[str] = []
    outcome = dispatch("issue_comment", event(body, **event_kw), github=github, base_config=base,
                       handlers=handlers, secrets=[TOKEN], log=logs.append)
    return outcome, github, base, handlers


# --- the event filter -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "payload", "reason"), [
    ("pull_request", event("/build"), "not issue_comment"),
    ("issue_comment", event("/build", action="edited"), "edited, not created"),
    ("issue_comment", event("/build", action="deleted"), "deleted, not created"),
    ("issue_comment", event("/build", pr=False), "on an issue, not on a pull request"),
    ("issue_comment", event("/build", state="closed"), "closed, not open"),
    ("issue_comment", event("/build", user="renovate", user_type="Bot"), "bot renovate"),
    ("issue_comment", event("/build", user="kfops-app[bot]"), "bot kfops-app[bot]"),
    ("issue_comment", event("/build", user="github-actions[bot]", user_type="Bot"), "bot github-actions[bot]"),
    ("issue_comment", event(f"{MARKER}\n/build"), "written by kfops itself"),
    ("issue_comment", event("/build", user="kfops-service"), "the account kfops posts as"),
    ("issue_comment", [], "not a JSON object"),
    ("issue_comment", {"action": "created"}, "no issue or comment"),
    ("issue_comment", {**event("/build"), "repository": None}, "lacks"),
    ("issue_comment", {**event("/build"), "comment": {"id": "x", "body": "/build",
                                                      "user": {"login": "alice"}}}, "lacks"),
])
def test_events_that_do_not_count(name: str, payload: Any, reason: str) -> None:
    result = read_event(name, payload, own_logins=["KFOPS-service"])
    assert isinstance(result, Ignored)
    assert reason in result.reason


def test_a_new_comment_on_an_open_pull_request_counts() -> None:
    result = read_event("issue_comment", event("/build\r\nthanks"))
    assert result == CommentEvent("acme/model", 7, 1001, "/build\r\nthanks", "alice", "2024-05-01T10:00:00Z")


@pytest.mark.parametrize("kw", [dict(action="edited"), dict(user="dependabot[bot]", user_type="Bot"), dict(pr=False)])
def test_ignored_events_touch_nothing(kw: dict[str, Any]) -> None:
    outcome, github, base, handlers = run("/deploy", **kw)
    assert outcome.outcome == d.IGNORED and outcome.exit_code == 0
    assert github.calls == [] and base.refs == []
    assert all(not h.contexts for h in handlers.values())


@pytest.mark.parametrize("body", ["LGTM", "> /deploy\nwhy not?", "```\n/build\n```", "\uff0fdeploy", "/approve", ""])
def test_comments_that_are_not_commands_touch_nothing(body: str) -> None:
    outcome, github, base, _ = run(body)
    assert outcome.outcome == d.IGNORED
    assert github.calls == [] and base.refs == []


# --- the path ---------------------------------------------------------------------------------


def test_allowed_command_is_acknowledged_first_then_runs_then_reports() -> None:
    handler = Spy(lambda ctx: Result.of("succeeded", summary=f"ran {ctx.command.display()} at {ctx.head_sha[:7]}"))
    outcome, github, base, _ = run("/build-run --set pipeline.parameters.epochs=5\n\nsmaller model",
                                   handlers={"build_run": handler})
    assert outcome.outcome == d.SUCCEEDED and outcome.exit_code == 0
    assert github.calls[0] == ("add_reaction", 1001, "eyes")
    assert github.names() == ["add_reaction", "get_pull", "get_permission", "branch_activity", "status_comment",
                              "add_reaction"]
    assert github.reactions == ["eyes", "rocket"]
    assert base.refs == ["main"]
    [context] = handler.contexts
    assert context.head_sha == SHA and context.pull.number == 7 and context.level == "write"
    assert context.command.sets == ("pipeline.parameters.epochs=5",)
    assert context.command.text == "smaller model"
    assert github.comments == []  # one status comment, no reply
    [body] = github.statuses["1001"].bodies  # the handler made no intermediate update
    assert body.startswith(f"### ✅ `/build_run` succeeded on {SHA[:12]} for @alice")
    assert "ran /build_run --set pipeline.parameters.epochs=5 at 9f8e7d6" in body


def test_refusal_is_answered_and_runs_nothing() -> None:
    deploy = Spy()
    outcome, github, _, handlers = run("/deploy", handlers={"deploy": deploy, "build": Spy()})
    assert outcome.outcome == d.DENIED and outcome.exit_code == 0
    assert deploy.contexts == []
    [reply] = github.comments
    assert "@alice cannot run /deploy here: it needs maintain, alice has write." in reply
    assert github.reactions == ["eyes", "confused"]


def test_fork_is_refused_even_for_an_admin() -> None:
    github = FakeGitHub(permissions={"alice": "admin"}, pull=pull_json(head_repo="mallory/model"))
    outcome, github, _, handlers = run("/build", github=github)
    assert outcome.outcome == d.DENIED
    assert handlers["build"].contexts == []
    assert "comes from the fork `mallory/model`" in github.comments[0]


def test_deleted_fork_counts_as_a_fork() -> None:
    github = FakeGitHub(permissions={"alice": "admin"}, pull=pull_json(head_repo=None))
    outcome, github, _, _ = run("/run", github=github)
    assert outcome.outcome == d.DENIED
    assert "a fork that no longer exists" in github.comments[0]


def test_fork_allowed_by_the_base_branch_config() -> None:
    github = FakeGitHub(pull=pull_json(head_repo="mallory/model"))
    base = BaseBranch("pipeline: {file: p.py, function: f}\nchatops:\n  allow_forks: true\n")
    outcome, _, _, handlers = run("/build", github=github, base=base)
    assert outcome.outcome == d.SUCCEEDED
    assert len(handlers["build"].contexts) == 1


def test_config_comes_from_the_base_branch_only() -> None:
    # The base branch (here `release`, the PR's target) raises /build to maintain; the PR's own
    # kfops.yaml is never asked for: the config source is only called with the base ref.
    github = FakeGitHub(pull=pull_json(base_ref="release"))
    base = BaseBranch("pipeline: {file: p.py, function: f}\nchatops:\n  commands:\n    build:\n"
                      "      permission: maintain\n")
    outcome, github, base, handlers = run("/build", github=github, base=base)
    assert base.refs == ["release"]
    assert outcome.outcome == d.DENIED
    assert handlers["build"].contexts == []
    assert "it needs maintain, alice has write" in github.comments[0]
    assert "kfops.yaml on `release`" in github.comments[0]


def test_base_config_can_lower_a_level() -> None:
    github = FakeGitHub(permissions={"alice": "triage"})
    base = BaseBranch("pipeline: {file: p.py, function: f}\nchatops:\n  commands:\n    run: {permission: triage}\n")
    outcome, _, _, handlers = run("/run", github=github, base=base)
    assert outcome.outcome == d.SUCCEEDED
    assert handlers["run"].contexts[0].base.data is not None


def test_invalid_base_config_refuses_and_fails_the_job() -> None:
    base = BaseBranch("pipeline: {file: p.py, function: f}\nchatops:\n  alow_forks: true\n")
    outcome, github, _, handlers = run("/build", base=base)
    assert outcome.outcome == d.CONFIG_ERROR and outcome.exit_code == 1
    assert handlers["build"].contexts == []
    assert "kfops.yaml on `main` is invalid" in github.comments[0]
    assert "unknown key 'alow_forks' (did you mean 'allow_forks'?)" in github.comments[0]
    assert "kfops.yaml@main:3:3" in github.comments[0]


def test_near_miss_gets_did_you_mean_without_any_lookup() -> None:
    outcome, github, base, _ = run("/depoly --force")
    assert outcome.outcome == d.NEAR_MISS and outcome.exit_code == 0
    assert github.names() == ["add_reaction", "post_comment", "add_reaction"]
    assert base.refs == []
    assert "`/depoly` is not a kfops command. Did you mean `/deploy`?" in github.comments[0]


def test_bad_arguments_get_the_usage() -> None:
    outcome, github, _, handlers = run("/run --set deployment.production.canary_percent=100")
    assert outcome.outcome == d.BAD_ARGUMENTS
    assert "only pipeline.* may be set from a comment" in github.comments[0]
    assert "/run [--set pipeline.KEY=VALUE]... [--sha COMMIT] [--dry-run]" in github.comments[0]
    assert handlers["run"].contexts == []


def test_mention_injection_is_neutralised() -> None:
    outcome, github, _, _ = run("/build@a")
    assert outcome.outcome == d.NEAR_MISS
    assert "`/build@a`" in github.comments[0]


@pytest.mark.parametrize(("body", "level"), [("/staging_deploy --dry-run", "write"), ("/deploy", "maintain")])
def test_commands_without_a_handler_say_so(body: str, level: str) -> None:
    """A command this build has no handler for (a trimmed handler map) is answered, not ignored."""
    github = FakeGitHub(permissions={"alice": level})
    handlers = {name: Spy() for name in sorted(AVAILABLE - {"deploy", "staging_deploy"})}
    outcome, github, _, handlers = run(body, github=github, handlers=handlers)
    assert outcome.outcome == d.UNAVAILABLE and outcome.exit_code == 0
    assert "is not available yet in this version of kfops (0.1.0). Nothing was done." in github.comments[0]
    assert github.reactions == ["eyes", "confused"]
    assert all(not h.contexts for h in handlers.values())


def test_unavailable_still_goes_through_authorization() -> None:
    outcome, github, _, _ = run("/deploy")  # alice has write; /deploy needs maintain
    assert outcome.outcome == d.DENIED


def test_help_lists_what_this_user_may_run() -> None:
    github = FakeGitHub(permissions={"alice": "write"}, teams={"acme/release": {"alice"}})
    base = BaseBranch("pipeline: {file: p.py, function: f}\nchatops:\n  commands:\n"
                      "    deploy: {teams: [acme/release]}\n    cancel: {permission: admin}\n")
    handlers = {name: Spy() for name in sorted(AVAILABLE - {"deploy"})}
    outcome, github, _, _ = run("/help", github=github, base=base, handlers=handlers)
    assert outcome.outcome == d.HELP
    reply = github.comments[0]
    assert "- `/build [--set pipeline.KEY=VALUE]... [--sha COMMIT] [--dry-run]`" in reply
    assert "- `/deploy [to ENVIRONMENT] [--run-id ID] [--sha COMMIT] [--force] [--dry-run]`: release" in reply  # through the team
    assert "*(not available yet in this version)*" in reply
    assert "- `/cancel`: needs admin" in reply
    assert ("is_team_member", "acme", "release", "alice") in github.calls
    assert github.reactions == ["eyes", "rocket"]


def test_team_membership_allows_and_is_looked_up_only_when_needed() -> None:
    base = BaseBranch("pipeline: {file: p.py, function: f}\nchatops:\n  commands:\n"
                      "    run: {permission: maintain, teams: [acme/ml]}\n")
    github = FakeGitHub(teams={"acme/ml": {"alice"}})
    outcome, github, _, _ = run("/run", github=github, base=base)
    assert outcome.outcome == d.SUCCEEDED
    github = FakeGitHub(permissions={"alice": "admin"}, teams={"acme/ml": set()})
    outcome, github, _, _ = run("/run", github=github, base=BaseBranch(base.text))
    assert outcome.outcome == d.SUCCEEDED
    assert "is_team_member" not in github.names()


def test_failed_team_lookup_is_explained_in_the_refusal() -> None:
    base = BaseBranch("pipeline: {file: p.py, function: f}\nchatops:\n  commands:\n"
                      "    run: {permission: maintain, teams: [acme/ml]}\n")
    outcome, github, _, handlers = run("/run", github=FakeGitHub(fail_teams=True), base=base)
    assert outcome.outcome == d.DENIED
    assert "The membership of acme/ml could not be checked" in github.comments[0]
    assert handlers["run"].contexts == []


def test_pull_request_closed_since_the_comment() -> None:
    outcome, github, _, handlers = run("/run", github=FakeGitHub(pull=pull_json(state="closed")))
    assert outcome.outcome == d.NOT_READY
    assert "pull request #7 is closed, not open" in github.comments[0]
    assert handlers["run"].contexts == []


def test_handler_failure_is_reported_scrubbed_and_fails_the_job() -> None:
    def fail(ctx: CommandContext) -> Result:
        ctx.add_secret("kfp-token-123456")
        raise RunFailed("run r-1 failed", "FAILED", fix=f"see the logs (token kfp-token-123456, {TOKEN})")

    outcome, github, _, _ = run("/run", handlers={"run": Spy(fail)})
    assert outcome.outcome == d.FAILED and outcome.exit_code == 1
    assert github.comments == []
    body = github.report()
    assert "`/run` failed on 9f8e7d6c5b4a for @alice" in body and "run r-1 failed" in body
    assert "kfp-token-123456" not in body and TOKEN not in body and "***" in body
    assert github.reactions == ["eyes", "confused"]


def test_unsuccessful_result_reacts_confused() -> None:
    outcome, github, _, _ = run("/run", handlers={"run": Spy(Result.of("failed"))})
    assert outcome.outcome == d.FAILED
    assert github.reactions == ["eyes", "confused"]


def test_a_run_handed_over_is_neither_success_nor_failure() -> None:
    outcome, github, _, _ = run("/run", handlers={"run": Spy(Result.of("running", summary="handed over"))})
    assert outcome.outcome == d.HANDED_OVER and outcome.exit_code == 0
    assert github.reactions == ["eyes"]  # rocket or confused come with the final report
    assert "`/run` running" in github.report()


def test_a_refusal_from_the_handler_changes_nothing_and_exits_0() -> None:
    outcome, github, _, _ = run("/run", handlers={"run": Spy(Result.of("refused", summary="one run at a time"))})
    assert outcome.outcome == d.NOT_READY and outcome.exit_code == 0
    assert github.reactions == ["eyes", "confused"]


def test_a_bug_in_a_handler_is_said_in_the_pr_and_raised() -> None:
    github = FakeGitHub()
    with pytest.raises(ZeroDivisionError):
        run("/run", github=github, handlers={"run": Spy(ZeroDivisionError("division by zero"))})
    assert "internal error in kfops: ZeroDivisionError: division by zero" in github.report()
    assert github.reactions[-1] == "confused"


def test_progress_goes_to_the_log_warnings_and_state_to_the_one_comment_all_scrubbed() -> None:
    def speak(ctx: CommandContext) -> Result:
        ctx.report.update(state="building")
        ctx.report.progress(f"compiled with {TOKEN}")
        ctx.report.warning(f"the registry saw {TOKEN}")
        return Result.of("succeeded")

    _, github, _, _ = run("/run", handlers={"run": Spy(speak)})
    assert github.comments == []
    building, final = github.statuses["1001"].bodies
    assert "`/run` building" in building and "`/run` succeeded" in final
    assert "the registry saw ***" in final and TOKEN not in final


def test_a_failing_reaction_does_not_stop_the_command() -> None:
    outcome, github, _, handlers = run("/run", github=FakeGitHub(fail_reactions=True))
    assert outcome.outcome == d.SUCCEEDED
    assert len(handlers["run"].contexts) == 1


def test_github_failure_before_the_answer_propagates() -> None:
    class Down(FakeGitHub):
        def get_pull(self, number: int) -> dict[str, Any]:
            raise GitHubError("cannot read pull request #7: GitHub answered 502")

    with pytest.raises(KfopsError, match="502"):
        run("/run", github=Down())
