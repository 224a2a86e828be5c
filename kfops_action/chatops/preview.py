"""`kfc comment`: what the Action would do with a comment, without doing it.

It runs the dispatcher's own pure stages (parse, plan_for_parse, plan_for_command, with the same
list of available commands), so what it prints is what the Action decides; only the facts the
Action would ask GitHub for (the permission level, fork or not, team memberships) are given on
the command line instead.

For /build, /run and /build_run it then does what the Action's handler does before any work
(chatops.handlers.handle_pipeline): load kfops.yaml with the comment's `--set`, compile the
pipeline, and check the parameters against its inputs (handlers.pipeline.execute with no
remote, the path `--dry-run` takes), so a comment the Action would answer with "unknown
parameter" fails here too. Its exit code (errors.ExitCode) says whether the Action would run it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ExitCode, KfopsError
from .authorize import DEFAULT_POLICY, needed
from .base_config import BaseConfig, read_local_config
from .command import BadArguments, NearMiss, NotACommand, ParsedCommand, check_environment, check_values, parse, shown
from .dispatch import DENIED, HELP, UNAVAILABLE, plan_for_command, plan_for_parse
from .handlers import AVAILABLE

_REACT = "react with eyes at once"


def find_comment_config(explicit: str | None, cwd: Path | None = None) -> BaseConfig | None:
    """-c PATH, else ./kfops.yaml when there is one, else None (the defaults, as the Action uses
    when the base branch has no kfops.yaml)."""
    if explicit:
        return read_local_config(Path(explicit))
    default = cwd / "kfops.yaml" if cwd is not None else Path("kfops.yaml")
    return read_local_config(default) if default.is_file() else None


PIPELINE_COMMANDS = ("build", "run", "build_run")


@dataclass(frozen=True)
class PipelineCheck:
    """What the Action's handler would find in the pipeline before any work: the parameters it
    would run with, or the error it would reply with. `skipped` says why nothing was checked."""

    pipeline: str | None = None
    parameters: list[Any] = field(default_factory=list)
    error: KfopsError | None = None
    skipped: str | None = None
    parameters_read: bool = True  # False for /build: it compiles but never reads them


@dataclass(frozen=True)
class Preview:
    text: str
    exit_code: ExitCode


class _Silent:
    """The handlers' Reporter, saying nothing: the preview prints its own summary."""

    def progress(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass


def check_pipeline(command: ParsedCommand, config_path: Path | None) -> PipelineCheck:
    """The pipeline half of the Action's /build, /run, /build_run up to the first remote call.

    The Action reads the pipeline section from the pull request's kfops.yaml with the comment's
    `--set` (chatops.handlers.command_config), compiles it, and, for the commands that run and for
    dry runs, checks the parameters (handlers.pipeline.execute). A real /build never reads them.
    """
    if config_path is None or not config_path.is_file():
        return PipelineCheck(skipped="no kfops.yaml here (the Action needs one in the pull request); "
                                     "-c PATH names it")
    from ..config import load_config
    from ..handlers.build import prepare
    from ..handlers.pipeline import execute

    try:
        config = load_config(config_path, list(command.sets))
        if command.name == "build" and not command.dry_run:
            built = prepare(config, _Silent(), images=False)
            return PipelineCheck(pipeline=built.package.name, parameters_read=False)
        outcome = execute(command.name, config, remote=None, reporter=_Silent())
    except KfopsError as exc:
        return PipelineCheck(error=exc)
    return PipelineCheck(pipeline=outcome.built.package.name, parameters=outcome.parameters)


def _pipeline_rows(check: PipelineCheck) -> list[str]:
    if check.skipped is not None:
        return [_row("pipeline", f"not checked: {check.skipped}")]
    if check.error is not None:
        return [_row("pipeline", "refused: the Action would reply with this error and react with confused; "
                                 "nothing runs"), *(f"  {line}" for line in str(check.error).splitlines())]
    if not check.parameters_read:
        return [_row("pipeline", f"{check.pipeline} compiles (/build does not read the parameters)")]
    from ..report.terminal import parameters_table

    return [_row("pipeline", f"{check.pipeline} compiles and its parameters check"), "",
            parameters_table(check.parameters)]


def _row(label: str, value: str) -> str:
    return f"{label + ':':<15}{value}"


def _work(command: ParsedCommand) -> str:
    """What the handler does, in words, for an allowed command this version can run."""
    at = "at the pull request head (pinned when the comment arrives)"
    if command.name in ("deploy", "staging_deploy"):
        env = command.target or "production"
        checks = ("check the requirements (base branch is the default one and not ahead, the PR mergeable, "
                  "approvals, a successful run of this PR trained on the head"
                  + (", the metrics gate" if env == "production" else "") + ")")
        if command.dry_run:
            return (f"{_REACT}; {checks}, render the InferenceService from the base branch's template; "
                    "deploy nothing; react with rocket")
        merge = ("; move the Deployed-to label here, merge the pull request at the pinned head and close it"
                 if env == "production" else "; move the Deployed-to label here (no merge unless "
                 f"deployment.{env}.merge)")
        return (f"{_REACT}; {checks}, then roll the run's model out to {env} with KServe (canary, endpoint "
                f"check, promote or roll back){merge}; report it all in its status comment; react with rocket "
                "on success, confused otherwise")
    if command.dry_run:
        return (f"{_REACT}; compile the pipeline {at} and check its parameters; build, upload and run "
                "nothing; show the parameters table in its status comment, then react with rocket")
    follow = ("start a run on Kubeflow, show its link and parameters in the status comment, follow it "
              "(then hand it over to /status and the scheduled sweep) and show the outcome there")
    steps = {
        "build": f"build the configured images, compile the pipeline {at}, upload it as a pipeline "
                 "version; show the version in its status comment",
        "run": f"unless another run of this pull request is active, compile the pipeline {at}, check its "
               f"parameters, upload the version if it is new, {follow}",
        "build_run": f"unless another run of this pull request is active, build the configured images, compile "
                     f"the pipeline {at}, check its parameters, upload it, {follow}",
        "status": "re-read this pull request's open runs from Kubeflow, finish the reports of those that "
                  "ended, and list the latest runs in its status comment",
        "cancel": "terminate this pull request's active run on Kubeflow (or --run-id, when it is one of "
                  "this pull request's) and say so in its report",
        "rollback": f"unless someone else holds /lock on {command.target}, pin all of {command.target}'s traffic "
                    "back to the previously rolled-out revision (KServe canaryTrafficPercent: 0), record a GitHub "
                    "deployment and tell the pull request whose release was rolled back",
        "undeploy": f"unless {command.target} is locked, delete its InferenceService and mark its GitHub "
                    "deployment inactive",
        "lock": "take the " + ("freeze Lease in every environment's namespace" if command.global_lock else
                               f"lock Lease of {command.target}") + " for you, and show it as a kfops-lock:* label",
        "unlock": "release the " + ("freeze" if command.global_lock else f"lock of {command.target}")
                  + " (yours, or anyone's if you are a maintainer) and remove its label",
    }[command.name]
    return f"{_REACT}; {steps}; react with rocket on success, confused otherwise"


def preview(text: str, *, user: str, level: str, fork: bool, teams: Collection[str] = (),
            base: BaseConfig | None = None, available: Collection[str] = AVAILABLE) -> str:
    return decide(text, user=user, level=level, fork=fork, teams=teams, base=base, available=available).text


def decide(text: str, *, user: str, level: str, fork: bool, teams: Collection[str] = (),
           base: BaseConfig | None = None, available: Collection[str] = AVAILABLE,
           config_path: Path | None = None, check: bool = False) -> Preview:
    """What the Action would do, and the exit code `kfc comment` reports it with: 0 when it would
    run (or answer, as /help), 2 when it would not take the comment (not a command, near miss, bad
    arguments, a `--set` the pipeline refuses), 5 when this user may not run it. With `check`,
    pipeline commands are compiled and their parameters checked (`config_path`: the PR's kfops.yaml)."""
    parsed = parse(text)
    lines: list[str] = []
    reply: str | None = None
    code = ExitCode.OK
    if isinstance(parsed, NotACommand):
        lines += [_row("not a command", parsed.reason),
                  _row("the Action", "would ignore this comment: no reaction, no reply")]
        return Preview("\n".join(lines), ExitCode.BAD_INPUT)
    early = plan_for_parse(parsed, user)
    if isinstance(parsed, NearMiss):
        lines += [_row("near miss", f"/{shown(parsed.typed)} is not a kfops command; "
                                    f"did you mean /{parsed.suggestion}?"),
                  _row("the Action", f"would {_REACT}, reply (below), then react with confused; nothing runs")]
    if isinstance(parsed, ParsedCommand):
        parsed = check_values(parsed)
    if isinstance(parsed, ParsedCommand):   # as the Action does, with the base branch's environments
        source = base.source if base is not None else DEFAULT_POLICY.source
        parsed = check_environment(parsed, (base.policy if base is not None else DEFAULT_POLICY).production_like,
                                   source)
    if early is not None:
        reply = early.reply
        code = ExitCode.OK if early.outcome == HELP else ExitCode.BAD_INPUT
    elif isinstance(parsed, BadArguments):
        policy = base.policy if base is not None else DEFAULT_POLICY
        plan = plan_for_command(parsed, user=user, level=level, policy=policy, fork=fork, available=available,
                                head_repo=f"{user}/REPO" if fork else None, member_of=frozenset(teams))
        answer = ("reply with the refusal (below)" if plan.outcome == DENIED
                  else "reply with the usage (below)")
        lines += [_row("command", f"/{parsed.name}"), _row("arguments", f"refused: {parsed.problem}"),
                  _row("allowed", ("no: " if plan.outcome == DENIED else "yes: ")
                       + (plan.verdict.reason if plan.verdict is not None else "")),
                  _row("the Action", f"would {_REACT}, {answer}, then react with confused; nothing runs")]
        reply = plan.reply
        code = ExitCode.DENIED if plan.outcome == DENIED else ExitCode.BAD_INPUT
    else:
        assert isinstance(parsed, ParsedCommand)
        policy = base.policy if base is not None else DEFAULT_POLICY
        plan = plan_for_command(parsed, user=user, level=level, policy=policy, fork=fork, available=available,
                                head_repo=f"{user}/REPO" if fork else None, member_of=frozenset(teams))
        where = "a fork" if fork else "this repository"
        lines += [
            _row("command", parsed.display()),
            _row("arguments", " ".join(parsed.arguments) or "(none)"),
            _row("needs", needed(parsed.name, policy, parsed.target)),
            _row("user", f"@{user} with {level}" + (f", member of {', '.join(teams)}" if teams else "")
                 + f", on a pull request from {where}"),
            _row("allowed", ("no: " if plan.outcome == DENIED else "yes: ")
                 + (plan.verdict.reason if plan.verdict is not None else "")),
            _row("permissions", policy.source + (" (the Action reads kfops.yaml from the PR's base branch)"
                                                  if base is not None else "")),
        ]
        if parsed.text:
            lines.append(_row("free text", f"{len(parsed.text.splitlines())} line(s), not read by kfops"))
        if plan.runs:
            lines.append(_row("the Action", "would " + _work(parsed)))
            if check and parsed.name in PIPELINE_COMMANDS:
                pipeline = check_pipeline(parsed, config_path)
                lines += _pipeline_rows(pipeline)
                code = ExitCode.BAD_INPUT if pipeline.error is not None else ExitCode.OK
        else:
            what = {DENIED: "reply with the refusal (below) and react with confused; nothing runs",
                    HELP: "reply with the list below and react with rocket",
                    UNAVAILABLE: "reply that it is not available yet (below) and react with confused"}
            lines.append(_row("the Action", f"would {_REACT}, {what[plan.outcome]}"))
            code = {DENIED: ExitCode.DENIED, HELP: ExitCode.OK}.get(plan.outcome, ExitCode.BAD_INPUT)
        reply = plan.reply
    if reply is not None:
        lines += ["", "reply:", reply.rstrip("\n")]
    return Preview("\n".join(lines), code)
