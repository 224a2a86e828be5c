"""The one path from a PR comment to an answer in the PR:

    event -> command -> (acknowledge) -> authorize -> requirements -> head pin -> handler -> report

Every stage that can be pure is (`plan_for_parse`, `plan_for_command` decide what to do without
any I/O, and `kfc comment` prints those same plans); `dispatch` only gathers the facts the plans
need through the ports it is given and carries the plan out. The acknowledgement (an eyes
reaction) is the first remote call, made before any slow import: the user sees at once that the
command was seen.

Every refusal is answered in the PR (one comment) and changes nothing else. A command that runs
gets one status comment (kfops_action.github: created once, edited in place as the work advances,
its final state written to the job summary too), driven by the handler through
`context.report`; the handler returns the final state and the dispatcher writes it. Reactions:
eyes when a command of ours is seen, then rocket for success, confused for a failure or a
refusal, nothing more while a run goes on after the job (handed over).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import KfopsError
from ..github import actions_commands
from ..github.render import ErrorInfo, FINAL_STATES
from ..github.render import Report as StatusReport
from ..github.reporter import PullRequestReport
from ..github.scrub import Scrubber
from . import replies
from .authorize import LEVELS, Allowed, Denied, Policy, Verdict, authorize, teams_to_check
from .base_config import BaseConfig, parse_base_config
from .command import (COMMANDS, BadArguments, NearMiss, NotACommand, Parsed, ParsedCommand, check_environment,
                      check_values, parse)
from .event import CommentEvent, Ignored, read_event
from .ports import CONFUSED, EYES, ROCKET, ConfigSource, GitHubPort
from .head_pin import pin_head
from .queue import ACCEPT_STAGE, RUN_STAGE, accept
from .requirements import NotReady, PullState, Ready, check, pull_state

if TYPE_CHECKING:
    from ..github.check_runs import CheckRunMirror
    from ..github.status_comment import StatusRecord

# What became of a comment; `Outcome.exit_code` maps them to the job's exit status.
IGNORED, NEAR_MISS, BAD_ARGUMENTS, DENIED, HELP, UNAVAILABLE, RUN = (
    "ignored", "near_miss", "bad_arguments", "denied", "help", "unavailable", "run")
NOT_READY, CONFIG_ERROR, SUCCEEDED, FAILED = "not_ready", "config_error", "succeeded", "failed"
HANDED_OVER, SKIPPED = "handed_over", "skipped"
ACCEPTED = "accepted"   # the authorize job's verdict (accept stage): a job of the workflow runs it
_FAILING = frozenset({CONFIG_ERROR, FAILED})
# Commands whose report is also a check run on the pinned head (kfops_action.github.check_runs).
CHECKED_COMMANDS = frozenset({"build", "run", "build_run", "deploy", "staging_deploy"})
# A handler's final state (as its status comment shows it) -> the outcome.
_BY_STATE = {"succeeded": SUCCEEDED, "refused": NOT_READY, "skipped": SKIPPED}


@dataclass(frozen=True)
class Result:
    """A handler's answer: the state its status comment ends in (succeeded, failed, canceled,
    refused, skipped; or running, when a run goes on after the job: handed over), and the other
    fields of that comment to change (kfops_action.github.render.Report's)."""

    state: str
    changes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, state: str, **changes: Any) -> Result:
        return cls(state, changes)

    @property
    def outcome(self) -> str:
        if self.state not in FINAL_STATES:
            return HANDED_OVER
        return _BY_STATE.get(self.state, FAILED)


@dataclass
class CommandContext:
    """Everything a handler may use: the command, the pinned head, the base config, the status
    comment (`report`: its Reporter for the handlers' progress and warnings, `update` for state
    changes), GitHub itself (other status comments, commit statuses) and the secrets to scrub."""

    command: ParsedCommand
    event: CommentEvent
    pull: PullState
    head_sha: str
    base: BaseConfig
    level: str
    report: PullRequestReport
    github: GitHubPort
    scrubber: Scrubber
    log: Callable[[str], None]
    env: Mapping[str, str] = field(default_factory=dict)

    def add_secret(self, secret: str | None) -> None:
        """A secret learnt on the way (a KFP token read from a file): masked and scrubbed."""
        self.scrubber.add(secret)


Handler = Callable[[CommandContext], Result]


@dataclass(frozen=True)
class Plan:
    """What the Action does with a comment, decided without I/O."""

    outcome: str
    reply: str | None = None
    verdict: Verdict | None = None

    @property
    def runs(self) -> bool:
        return self.outcome == RUN


@dataclass(frozen=True)
class Outcome:
    """What `dispatch` did, for the job log and the exit code."""

    outcome: str
    detail: str = ""
    command: str | None = None
    replies: tuple[str, ...] = field(default_factory=tuple)
    # The handler's final report fields (run_url, state_data: the run or deploy record), for the
    # action's outputs.
    report: Mapping[str, Any] = field(default_factory=dict)
    # Accept stage: the workflow job that runs the command (pipeline, deploy, chat; "" for none)
    # and a deploy's environment. The workflow routes on them; the job authorizes again.
    job: str = ""
    environment: str = ""

    @property
    def exit_code(self) -> int:
        """Refusals and near misses are answers, not failures; a failed command or an invalid
        base config fails the job so that it shows red."""
        return 1 if self.outcome in _FAILING else 0


# --- pure planning -------------------------------------------------------------------------


def plan_for_parse(parsed: Parsed, user: str) -> Plan | None:
    """The answer when the comment names none of our commands; None when it names one (even with
    bad arguments: those are answered after authorization, see `plan_for_command`)."""
    if isinstance(parsed, NotACommand):
        return Plan(IGNORED)
    if isinstance(parsed, NearMiss):
        return Plan(NEAR_MISS, replies.did_you_mean(user, parsed.typed, parsed.suggestion))
    return None


def plan_for_command(command: ParsedCommand | BadArguments, *, user: str, level: str, policy: Policy,
                     fork: bool, available: Collection[str], head_repo: str | None = None,
                     member_of: Collection[str] = (), notes: tuple[str, ...] = ()) -> Plan:
    """Authorize, then: the usage for bad arguments, the /help answer, "not available yet", or RUN
    the handler. Authorization comes first so that someone who may not run the command gets the
    refusal, never a reply echoing their arguments."""
    facts: dict[str, Any] = dict(user=user, level=level, policy=policy, fork=fork,
                                 member_of=member_of, head_repo=head_repo)
    verdict = authorize(command.name, notes=notes, environment=getattr(command, "target", None), **facts)
    if isinstance(verdict, Denied):
        return Plan(DENIED, verdict.reply, verdict)
    if isinstance(command, BadArguments):
        return Plan(BAD_ARGUMENTS, replies.bad_arguments(user, command.name, command.problem), verdict)
    if command.name == "help":
        verdicts = {name: authorize(name, **facts) for name in COMMANDS}
        allowed = [n for n, v in verdicts.items() if isinstance(v, Allowed)]
        refused = [(n, v.reason) for n, v in verdicts.items() if isinstance(v, Denied)]
        unavailable = [n for n in allowed if n != "help" and n not in available]
        return Plan(HELP, replies.help_text(user, allowed, refused, policy_source=policy.source, fork=fork,
                                            unavailable=unavailable), verdict)
    if command.name not in available:
        return Plan(UNAVAILABLE, replies.not_available(user, command.name, __version__), verdict)
    return Plan(RUN, None, verdict)


# --- carrying a plan out -------------------------------------------------------------------


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def error_info(exc: KfopsError) -> ErrorInfo:
    """A KfopsError as the PR shows it: one line first (with the problem, when there is just
    one: a file and line, a parameter), the rest folded, then the fix."""
    problems = [str(p) for p in exc.problems]
    cause = exc.what
    if len(problems) == 1 and "\n" not in problems[0]:
        cause, problems = f"{exc.what}: {problems[0]}", []
    return ErrorInfo(cause, "\n".join(problems), exc.fix)


class _Answers:
    """One-off replies to the PR (refusals, /help): scrubbed, marked as ours; the port splits
    them at GitHub's limit. Each also goes to the job summary."""

    def __init__(self, github: GitHubPort, event: CommentEvent, scrubber: Scrubber,
                 log: Callable[[str], None], env: Mapping[str, str] | None) -> None:
        self.github, self.event, self.scrubber, self.log, self.env = github, event, scrubber, log, env
        self.posted: list[str] = []

    def post(self, body: str) -> None:
        if not body.startswith(replies.MARKER):
            body = replies.report(body)
        body = self.scrubber.scrub(body)
        self.github.post_comment(self.event.number, body)
        self.posted.append(body)
        actions_commands.append_step_summary(body.removeprefix(replies.MARKER).lstrip("\n"), env=self.env)

    def react(self, content: str) -> None:
        """Reactions are a courtesy: a failure to add one is logged, never fatal."""
        try:
            self.github.add_reaction(self.event.comment_id, content)
        except KfopsError as exc:
            self.log(f"warning: could not add the {content} reaction: {self.scrubber.scrub(str(exc))}")

    def finish(self, outcome: str, command: str | None, detail: str = "", ok: bool = False) -> Outcome:
        self.react(ROCKET if ok else CONFUSED)
        return Outcome(outcome, detail, command, tuple(self.posted))


def _memberships(github: GitHubPort, teams: Iterable[str], user: str,
                 log: Callable[[str], None]) -> tuple[frozenset[str], tuple[str, ...]]:
    """The listed teams the user belongs to, and a note for each lookup that failed (often: the
    token cannot read org teams, which GITHUB_TOKEN never can)."""
    member: set[str] = set()
    notes: list[str] = []
    for team in dict.fromkeys(teams):
        org, _, slug = team.partition("/")
        try:
            if github.is_team_member(org, slug, user):
                member.add(team)
        except KfopsError as exc:
            log(f"warning: team lookup {team} failed: {exc}")
            notes.append(f"The membership of {team} could not be checked ({exc.what}).")
    return frozenset(member), tuple(notes)


def _level(raw: str | None) -> str:
    text = (raw or "").strip().lower()
    return text if text in LEVELS else ((raw or "").strip() or "none")


def _rerun(env: Mapping[str, str]) -> bool:
    """A re-run of the workflow run (GITHUB_RUN_ATTEMPT > 1) may find its status comment there."""
    attempt = env.get("GITHUB_RUN_ATTEMPT", "1")
    return attempt.isdigit() and int(attempt) > 1


def _report_fields(report: StatusReport) -> dict[str, Any]:
    return {"state": report.state, "run_name": report.run_name, "run_url": report.run_url,
            "summary": report.summary, "state_data": dict(report.state_data or {}),
            "errors": [e.cause for e in report.errors]}


def _check_run(github: GitHubPort, command: ParsedCommand, head_sha: str, key: str) -> CheckRunMirror | None:
    """A check run for the commands that judge the pinned commit (builds, runs, deploys); not for
    dry runs (nothing was judged), nor where the port cannot write check runs (kfc comment)."""
    if command.name not in CHECKED_COMMANDS or command.dry_run or not hasattr(github, "create_check_run"):
        return None
    from ..github.check_runs import CheckRunMirror

    return CheckRunMirror(github, command=command.name, head_sha=head_sha, key=key)


def dispatch(event_name: str, payload: Any, *, github: GitHubPort, base_config: ConfigSource,
             handlers: Mapping[str, Handler], config_path: str = "kfops.yaml",
             own_logins: Collection[str] = (), secrets: Iterable[str] = (),
             scrubber: Scrubber | None = None, env: Mapping[str, str] | None = None,
             log: Callable[[str], None] = _stderr, stage: str = RUN_STAGE,
             queued: StatusRecord | None = None,
             take_turn: Callable[[], StatusRecord | None] | None = None) -> Outcome:
    """Carry one event through the whole path; see the module docstring for the order.

    `base_config` is called with the PR's base branch and returns kfops.yaml as it is there; the
    PR's own kfops.yaml plays no part in who may run what. `handlers` maps command names to the
    work; commands without one answer that they are not available yet. `scrubber` (with
    `secrets` added) removes every secret from what is posted; `env` is the job's environment
    (the job summary file, the run attempt). `stage` "accept" stops after the requirements and
    routes the command (queue.accept: the authorize job); "run" carries it out, continuing the
    status comment `queued` (its queued ticket) when there is one. `take_turn` is called once the
    command may run, before its report begins: the queue runs what GitHub displaced there, after
    this command's acknowledgement, and returns this command's queued status comment, if any.
    """
    env = {} if env is None else env  # the job's: tests never write a real job summary
    scrubber = scrubber if scrubber is not None else Scrubber()
    for secret in secrets:
        scrubber.add(secret)
    event = read_event(event_name, payload, own_logins=own_logins)
    if isinstance(event, Ignored):
        log(f"ignored: {event.reason}")
        return Outcome(IGNORED, event.reason)
    parsed = parse(event.body)
    if isinstance(parsed, NotACommand):
        log(f"ignored: {parsed.reason}")
        return Outcome(IGNORED, parsed.reason)

    answers = _Answers(github, event, scrubber, log, env)
    answers.react(EYES)  # the acknowledgement: first remote call, nothing slow imported yet
    early = plan_for_parse(parsed, event.user)
    if early is not None:
        assert early.reply is not None
        answers.post(early.reply)
        return answers.finish(early.outcome, None, early.outcome)
    assert isinstance(parsed, (ParsedCommand, BadArguments))
    command = check_values(parsed) if isinstance(parsed, ParsedCommand) else parsed
    log(f"command from @{event.user} on #{event.number}: "
        + (command.display() if isinstance(command, ParsedCommand) else f"/{command.name} (bad arguments)"))

    pull = pull_state(github.get_pull(event.number), event.number)
    if not pull.base_ref:
        answers.post(replies.not_ready(event.user, command.name, "GitHub did not say which branch the pull "
                                                                 "request targets"))
        return answers.finish(NOT_READY, command.name)
    try:
        base = parse_base_config(base_config(pull.base_ref), ref=pull.base_ref, path=config_path)
    except KfopsError as exc:
        answers.post(replies.config_invalid(event.user, command.name, f"{config_path} on `{pull.base_ref}`",
                                            str(exc)))
        return answers.finish(CONFIG_ERROR, command.name, exc.what)
    policy = base.policy
    if isinstance(command, ParsedCommand):   # the environments come from the base branch only
        command = check_environment(command, policy.production_like, base.source)
    level = _level(github.get_permission(event.user))
    if command.name == "help":
        teams: Iterable[str] = policy.all_teams()
    else:
        teams = teams_to_check(command.name, user=event.user, level=level, policy=policy, fork=pull.fork,
                               environment=getattr(command, "target", None))
    member_of, notes = _memberships(github, teams, event.user, log)
    plan = plan_for_command(command, user=event.user, level=level, policy=policy, fork=pull.fork,
                            available=frozenset(handlers), head_repo=pull.head_repo, member_of=member_of,
                            notes=notes)
    if plan.verdict is not None:
        log(f"{type(plan.verdict).__name__.lower()}: {plan.verdict.reason}")
    if not plan.runs:
        assert plan.reply is not None
        answers.post(plan.reply)
        detail = plan.outcome if plan.outcome == BAD_ARGUMENTS else ""
        return answers.finish(plan.outcome, command.name, detail, ok=plan.outcome == HELP)
    assert isinstance(command, ParsedCommand)

    readiness = check(command.name, pull)
    if isinstance(readiness, Ready):
        readiness = pin_head(command, pull, readiness.head_sha, event.created_at, github, log)
    if isinstance(readiness, NotReady):
        answers.post(replies.not_ready(event.user, command.name, readiness.problem))
        return answers.finish(NOT_READY, command.name, readiness.problem)
    if stage == ACCEPT_STAGE:
        accepted = accept(github, event, command, readiness.head_sha, env=env, resume=_rerun(env),  # type: ignore[arg-type]
                          warnings=readiness.warnings, log=lambda m: log(scrubber.scrub(m)))
        return Outcome(ACCEPTED, accepted.summary, command.name, tuple(answers.posted), job=accepted.job,
                       environment=accepted.environment)
    if take_turn is not None:
        queued = take_turn() or queued
    status = github.status_comment(event.number, str(event.comment_id), resume=_rerun(env))
    if queued is not None:
        status.adopt(queued)
    report = PullRequestReport(status, StatusReport(f"/{command.name}", "queued", actor=event.user,
                                                    sha=readiness.head_sha),
                               log=lambda m: log(scrubber.scrub(m)), scrub=scrubber.scrub, env=env,
                               summary=lambda: "",  # the entry point logs the request count once, at the end
                               check_run=_check_run(github, command, readiness.head_sha, str(event.comment_id)))
    for warning in readiness.warnings:
        report.warning(warning)
    context = CommandContext(command, event, pull, readiness.head_sha, base, level, report, github, scrubber,
                             log, env)
    try:
        result = handlers[command.name](context)
    except KfopsError as exc:
        report.finish("failed", errors=[*report.report.errors, error_info(exc)])
        answers.react(CONFUSED)
        return Outcome(FAILED, exc.what, command.name, report=_report_fields(report.report))
    except Exception as exc:
        # A bug: say so in the PR, then let the traceback reach the job log.
        report.finish("failed", errors=[*report.report.errors, ErrorInfo(
            f"internal error in kfops: {type(exc).__name__}: {exc}",
            fix="the workflow log has the traceback; please report it")])
        answers.react(CONFUSED)
        raise
    report.finish(result.state, **result.changes)
    outcome = result.outcome
    if outcome != HANDED_OVER:
        answers.react(ROCKET if outcome == SUCCEEDED else CONFUSED)
    return Outcome(outcome, result.state, command.name, report=_report_fields(report.report))
