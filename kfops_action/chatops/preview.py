"""`kfc comment`: what the Action would do with a comment, without doing it.

It runs the dispatcher's own pure stages (parse, plan_for_parse, plan_for_command, with the same
list of available commands), so what it prints is what the Action decides; only the facts the
Action would ask GitHub for (the permission level, fork or not, team memberships) are given on
the command line instead.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from .authorize import DEFAULT_POLICY, needed
from .base_config import BaseConfig, read_local_config
from .command import BadArguments, NearMiss, NotACommand, ParsedCommand, check_values, parse, shown
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


def _row(label: str, value: str) -> str:
    return f"{label + ':':<15}{value}"


def _work(command: ParsedCommand) -> str:
    """What the handler does, in words, for an allowed command this version can run."""
    at = "at the pull request head (pinned when the comment arrives)"
    if command.name in ("deploy", "staging_deploy"):
        env = "production" if command.name == "deploy" else "staging"
        checks = ("check the requirements (base branch is the default one and not ahead, the PR mergeable, "
                  "approvals, a successful run of this PR trained on the head"
                  + (", the metrics gate" if command.name == "deploy" else "") + ")")
        if command.dry_run:
            return (f"{_REACT}; {checks}, render the InferenceService from the base branch's template; "
                    "deploy nothing; react with rocket")
        merge = ("; move the Deployed-to label here, merge the pull request at the pinned head and close it"
                 if command.name == "deploy" else "; move the Deployed-to label here (no merge)")
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
    }[command.name]
    return f"{_REACT}; {steps}; react with rocket on success, confused otherwise"


def preview(text: str, *, user: str, level: str, fork: bool, teams: Collection[str] = (),
            base: BaseConfig | None = None, available: Collection[str] = AVAILABLE) -> str:
    parsed = parse(text)
    lines: list[str] = []
    reply: str | None = None
    if isinstance(parsed, NotACommand):
        lines += [_row("not a command", parsed.reason),
                  _row("the Action", "would ignore this comment: no reaction, no reply")]
        return "\n".join(lines)
    early = plan_for_parse(parsed, user)
    if isinstance(parsed, NearMiss):
        lines += [_row("near miss", f"/{shown(parsed.typed)} is not a kfops command; "
                                    f"did you mean /{parsed.suggestion}?"),
                  _row("the Action", f"would {_REACT}, reply (below), then react with confused; nothing runs")]
    if isinstance(parsed, ParsedCommand):
        parsed = check_values(parsed)
    if early is not None:
        reply = early.reply
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
    else:
        assert isinstance(parsed, ParsedCommand)
        policy = base.policy if base is not None else DEFAULT_POLICY
        plan = plan_for_command(parsed, user=user, level=level, policy=policy, fork=fork, available=available,
                                head_repo=f"{user}/REPO" if fork else None, member_of=frozenset(teams))
        where = "a fork" if fork else "this repository"
        lines += [
            _row("command", parsed.display()),
            _row("arguments", " ".join(parsed.arguments) or "(none)"),
            _row("needs", needed(parsed.name, policy)),
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
        else:
            what = {DENIED: "reply with the refusal (below) and react with confused; nothing runs",
                    HELP: "reply with the list below and react with rocket",
                    UNAVAILABLE: "reply that it is not available yet (below) and react with confused"}
            lines.append(_row("the Action", f"would {_REACT}, {what[plan.outcome]}"))
        reply = plan.reply
    if reply is not None:
        lines += ["", "reply:", reply.rstrip("\n")]
    return "\n".join(lines)
