"""/build, /run, /build_run, /status and /cancel for the Action, answered in one status comment
(/deploy and /staging_deploy are registered here too; their work is in deploy_handler.py).

/build, /run and /build_run compose kfops_action.handlers exactly as `kfc build` / `kfc run` /
`kfc build-run` do (`execute`: prepare -> run_parameters -> upload -> start), with
`context.report` (kfops_action.github.reporter.PullRequestReport) as the Reporter, then follow
the run (tracking.follow). What the pull request setting adds:

- Which code: the checked-out workspace must be at the head SHA pinned when the command arrived;
  anything else is refused (the PR author may have pushed since, or the workflow checked out the
  base branch). Checking out the PR head is the workflow's job (see the action's README).
- Which config: the `pipeline` and `images` sections describe the code under review, so they come
  from the PR's kfops.yaml, with the comment's `--set` applied (only `pipeline.*`, as for `kfc`).
  Every other section (`kubeflow`: where credentials are sent; `deployment`; `chatops`) comes from
  the base branch, so that a PR cannot point the Action's secrets at another server.
- One run per pull request at a time: a second /run or /build_run while one of this PR's runs is
  active (its record says so, and KFP confirms it) is refused, naming the active run and how to
  cancel it. `/cancel` and `/deploy` then always mean one run, and a double-posted comment does
  not train twice. /build and dry runs are never refused.
- The report: status comment "building", then "running" with the run link and the parameters
  table, task states while the job follows, then the outcome (state, durations, tasks, the failed
  task with KFP's reason). Each run's record (runs.py) rides along as hidden state: the
  provenance /deploy reads, and what /status, /cancel and the scheduled hand-over finish.
- The commit status `kfops/run` on the pinned head: pending when the run starts (linking to it),
  success/failure/error when it ends (left pending while it is handed over, until it ends);
  failure when the command fails before a run started.

kfp, kubernetes and yaml are imported inside the handlers, after the acknowledgement.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, KfopsError
from ..github import actions_commands
from ..github.followup import handover_workflow
from ..github.render import Link, Table, cell
from ..github.statuses import RUN_CONTEXT
from .dispatch import CommandContext, Handler, Result
from .deploy_rules import Refusal
from .provenance import verify_run
from .runs import RunRecord, report_fields, runs_in, ui_state
from .tracking import HANDOVER, FollowPolicy, conclude, follow, open_runs, refresh, remote_from, \
    remote_from_base, show_in

if TYPE_CHECKING:
    from ..config import Config
    from ..kubeflow.remote import KfpRemote

PIPELINE_COMMANDS = ("build", "run", "build_run")
DEPLOY_COMMANDS = ("deploy", "staging_deploy")
RELEASE_COMMANDS = ("rollback", "undeploy")
LOCK_COMMANDS = ("lock", "unlock")
AVAILABLE = frozenset({*PIPELINE_COMMANDS, *DEPLOY_COMMANDS, *RELEASE_COMMANDS, *LOCK_COMMANDS, "status", "cancel"})
PR_SECTIONS = frozenset({"version", "pipeline", "images"})
BASE_IMAGE_KEYS = frozenset({"kaniko"})
STATUS_ROWS = 10


@dataclass(frozen=True)
class Workspace:
    """The checked-out pull request, the job's environment, and how runs are followed."""

    root: Path
    config_path: str = "kfops.yaml"
    env: Mapping[str, str] = field(default_factory=dict)
    follow: FollowPolicy = FollowPolicy()
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def command_handlers(workspace: Workspace) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {name: partial(handle_pipeline, workspace=workspace) for name in PIPELINE_COMMANDS}
    handlers["status"] = partial(handle_status, workspace=workspace)
    handlers["cancel"] = partial(handle_cancel, workspace=workspace)
    for name in DEPLOY_COMMANDS:
        handlers[name] = partial(_deploy, workspace=workspace)
    for name in RELEASE_COMMANDS:
        handlers[name] = partial(_release, workspace=workspace)
    for name in LOCK_COMMANDS:
        handlers[name] = partial(_lock, workspace=workspace)
    return handlers


def _release(context: CommandContext, *, workspace: Workspace) -> Result:
    """/rollback and /undeploy (release_handler.py, imported only when one is commanded)."""
    from .release_handler import handle_release

    return handle_release(context, workspace=workspace)


def _lock(context: CommandContext, *, workspace: Workspace) -> Result:
    """/lock and /unlock (lock_handler.py)."""
    from .lock_handler import handle_lock

    return handle_lock(context, workspace=workspace)


def _deploy(context: CommandContext, *, workspace: Workspace) -> Result:
    """/deploy and /staging_deploy (deploy_handler.py, imported only when one is commanded)."""
    from .deploy_handler import handle_deploy

    return handle_deploy(context, workspace=workspace)


def command_config(context: CommandContext, workspace: Workspace) -> Config:
    """The PR's pipeline/images sections (with the comment's --set) over the base branch's others."""
    from ..config import load_config

    path = workspace.root / workspace.config_path
    if not path.is_file():
        raise ConfigError(f"no {workspace.config_path} in the checked-out pull request ({workspace.root})",
                          fix="add kfops.yaml to the repository (see examples/quickstart/kfops.yaml), or "
                              "set the action's `config` input to its path")
    from_pr = load_config(path, list(context.command.sets))
    base = context.base.data or {}
    merged = {k: v for k, v in from_pr.data.items() if k in PR_SECTIONS}
    merged.update({k: v for k, v in base.items() if k not in PR_SECTIONS})
    if "images" in merged:
        # Where Kaniko runs (namespace, service account, secrets it mounts) is cluster access,
        # not a description of the code: it comes from the base branch like `kubeflow`.
        images = {k: v for k, v in merged["images"].items() if k not in BASE_IMAGE_KEYS}
        images.update({k: v for k, v in (base.get("images") or {}).items() if k in BASE_IMAGE_KEYS})
        merged["images"] = images
    return replace(from_pr, data=merged)


def check_checkout(config: Config, head_sha: str) -> None:
    """Refuse to build anything but the commit the command was given for."""
    from ..gitinfo import current_commit

    commit = current_commit(config.base_dir)
    if commit.sha != head_sha:
        at = f"at {commit.sha[:7]}" if commit.sha else "not a git checkout"
        raise KfopsError(f"the checked-out code is {at}, not at the pull request head {head_sha[:7]}",
                         fix="check out the pull request head before kfops runs (actions/checkout with "
                             "`ref: refs/pull/<number>/head`); if the PR moved since the comment, "
                             "comment again")
    if commit.dirty:
        raise KfopsError(f"the checkout of {head_sha[:7]} has uncommitted changes",
                         fix="do not modify tracked files in the workflow before kfops runs")


def located(exc: KfopsError, root: Path) -> KfopsError:
    """Paths in the error made relative to the checkout (what the PR shows: `pipeline.py:12`),
    and an `::error file=,line=` annotation for each problem located in a file, so the job's
    summary (and the diff) points at the line."""
    prefixes = sorted({str(root) + os.sep, str(root.resolve()) + os.sep}, key=len, reverse=True)

    def rel(text: str | None) -> str | None:
        for prefix in prefixes:
            text = text.replace(prefix, "") if text else text
        return text

    exc.what = rel(exc.what) or exc.what
    for problem in exc.problems:
        problem.message, problem.where = rel(problem.message) or problem.message, rel(problem.where)
        position = problem.position()
        if position is not None and not os.path.isabs(position[0]):
            file, line, col = position
            actions_commands.error(problem.message, file=file, line=line, col=col, title=exc.what)
    return exc


def handle_pipeline(context: CommandContext, *, workspace: Workspace) -> Result:
    from ..handlers.pipeline import execute

    name, dry_run, report = context.command.name, context.command.dry_run, context.report
    runs = name != "build"
    record: list[RunRecord] = []
    try:
        config = command_config(context, workspace)
        check_checkout(config, context.head_sha)
        if dry_run:
            outcome = execute(name, config, remote=None, reporter=report, pr=context.pull.number)
            return Result.of("succeeded", parameters=outcome.parameters, summary=(
                f"Dry run: pipeline `{config.pipeline.name}` compiles and its parameters check; nothing was "
                "built, uploaded or run."))
        remote = _remote(config, workspace, context)
        if runs:
            before = _before_run(context, workspace, remote)
            if isinstance(before, Result):
                return before
            if before is not None:  # this invocation's run, started by an earlier attempt of the job
                report.update(**report_fields(before))
                return _follow_to_end(context, workspace, remote, before, config)
        report.update(state="building")
        started = time.monotonic()

        def on_started(built: Any, run: Any, parameters: list[Any]) -> None:
            record.append(_record(context, built, run, parameters, time.monotonic() - started))
            report.update(**report_fields(record[0]))  # "run started": the link and the parameters
            _commit_status(context, "pending", f"run {run.display_name} started", run.url)

        outcome = execute(name, config, remote=remote, reporter=report, wait=False, pr=context.pull.number,
                          on_started=on_started)
    except KfopsError as exc:
        if runs and not dry_run and not record:  # the PR's checks show the command failed
            _commit_status(context, "failure", f"/{name} failed before a run started", report.comment.url)
        raise located(exc, workspace.root) from None
    if not runs:
        return _built(context, outcome.built)
    return _follow_to_end(context, workspace, remote, record[0], config)


def _follow_to_end(context: CommandContext, workspace: Workspace, remote: KfpRemote, run: RunRecord,
                   config: Config) -> Result:
    report = context.report

    def show(current: RunRecord, status: Any) -> None:
        report.update(**report_fields(current, status))

    followed = follow(remote, run, show, policy=workspace.follow, clock=workspace.clock, sleep=workspace.sleep)
    run = followed.run
    context.log(f"followed run {run.run_id}: {run.state} ({followed.edits} status comment edits while following)")
    if followed.handover is not None:
        run = replace(run, handed_over=True)
        context.log(f"handing over: {followed.handover}")
        context.github.switch_workflow(handover_workflow(workspace.env), True)  # the follow-up finishes it
        return _as_result(report_fields(run, followed.status, note=f"{followed.handover} {HANDOVER}"))
    conclude(context.github, run, context.log, react=False)  # the dispatcher reacts on this comment
    sections = _sections(context, workspace, remote, config.pipeline.root)(run)  # the metrics, once
    return _as_result(report_fields(run, followed.status, sections=sections))


def _as_result(fields: dict[str, Any]) -> Result:
    state = fields.pop("state")
    return Result(state, fields)


def _before_run(context: CommandContext, workspace: Workspace, remote: KfpRemote) -> Result | RunRecord | None:
    """One listing of the PR's status comments: this invocation's own comment when a re-run of
    the job already wrote it (edited, not duplicated; its run followed, not started again), and
    the runs still active, re-read from KFP (an ended one gets its final report now). An active
    run of another command refuses this one."""
    key, pr = str(context.event.comment_id), context.pull.number
    records = context.github.status_comments(pr)
    mine = next((r for r in records if r.key == key), None)
    if mine is not None:
        context.report.comment.adopt(mine)
    active = []
    for status_record, run in runs_in(records):
        if not run.open:
            continue
        if run.key == key:
            return run
        run, _ = refresh(context.github, remote, pr, status_record, run, log=context.log,
                         sections=_sections(context, workspace, remote))
        if run.open:
            active.append(run)
    if not active:
        return None
    run = active[-1]
    link = cell(Link(run.run_name or run.run_id, run.run_url))
    return Result.of("refused", summary=(
        f"Not started: run {link} (`/{run.command}` by @{run.requested_by} at `{run.sha[:7]}`) is still "
        f"{run.state.lower()}. One run per pull request at a time: wait for it to end (`/status` shows it), or "
        f"`/cancel` it, then comment `/{context.command.name}` again."))


def _record(context: CommandContext, built: Any, run: Any, parameters: list[Any], build_seconds: float) -> RunRecord:
    version = built.version
    return RunRecord(
        key=str(context.event.comment_id), command=context.command.name, pr=context.pull.number,
        requested_by=context.event.user, requested_at=context.event.created_at, sha=context.head_sha,
        run_id=run.run_id, run_name=run.display_name, run_url=run.url, experiment_id=run.experiment_id,
        pipeline={"name": version.pipeline_name, "id": version.pipeline_id, "version_id": version.version_id,
                  "version_name": version.version_name},
        images=[{"name": i.name, "reference": i.reference, "digest": i.digest} for i in built.images],
        parameters=[{"name": p.name, "value": p.value, "overridden": p.overridden} for p in parameters],
        build_seconds=round(build_seconds, 1), warnings=list(context.report.report.warnings))


def _built(context: CommandContext, built: Any) -> Result:
    version = built.version
    details: list[tuple[str, object]] = [
        ("Pipeline version", f"{version.pipeline_name}/{version.version_name}"),
        ("Version id", version.version_id),
        ("Uploaded", "yes" if version.created else "no: this version was already there"),
    ]
    details += [(f"Image {i.name}", i.reference + (f"@{i.digest}" if i.digest else "")) for i in built.images]
    state = {"kind": "build", "v": 1, "key": str(context.event.comment_id), "pr": context.pull.number,
             "requested_by": context.event.user, "sha": context.head_sha,
             "pipeline": {"name": version.pipeline_name, "id": version.pipeline_id,
                          "version_id": version.version_id, "version_name": version.version_name},
             "images": [{"name": i.name, "reference": i.reference, "digest": i.digest} for i in built.images]}
    return Result.of("succeeded", details=details, state_data=state,
                     summary="Built: `/run` starts a run of this version.")


def _commit_status(context: CommandContext, state: str, description: str, url: str | None) -> None:
    """kfops/run on the pinned head. A courtesy: logged, never fatal."""
    try:
        context.github.set_status(context.head_sha, context=RUN_CONTEXT, state=state, description=description,
                                  target_url=url)
    except KfopsError as exc:
        context.log(f"warning: could not set the {RUN_CONTEXT} status: {exc.what}")


def _remote(config: Config, workspace: Workspace, context: CommandContext) -> KfpRemote:
    return remote_from(config.section("kubeflow"), namespace=config.pipeline.namespace, env=workspace.env,
                       base_dir=config.base_dir, add_secret=context.add_secret)


def _sections(context: CommandContext, workspace: Workspace, remote: KfpRemote,
              pipeline_root: str | None = None) -> Callable[[RunRecord], list[str]]:
    """A finished run's metrics section(s): `metrics` settings from the base branch, over `remote`'s
    connection (run_metrics.py)."""
    from .run_metrics import sections_for

    base = context.base.data or {}
    if pipeline_root is None:
        pipeline = base.get("pipeline") if isinstance(base.get("pipeline"), Mapping) else {}
        pipeline_root = pipeline.get("root")
    return sections_for(remote.connection, base, env=workspace.env, pipeline_root=pipeline_root, log=context.log)


def base_remote(context: CommandContext, workspace: Workspace) -> KfpRemote:
    """KFP as the base branch's kfops.yaml reaches it (/status, /cancel, the deploys)."""
    return remote_from_base(context.base.data, env=workspace.env, base_dir=workspace.root,
                            add_secret=context.add_secret)


# --- /status and /cancel ---------------------------------------------------------------------


def _runs_table(runs: list[RunRecord]) -> Table:
    rows = [(Link(r.run_name or r.run_id, r.run_url), f"/{r.command}", r.sha[:7], f"@{r.requested_by}",
             ui_state(r.state) + (" (handed over)" if r.open and r.handed_over else ""),
             r.created_at or r.requested_at or "") for r in runs]
    return Table(["run", "command", "commit", "by", "state", "started"], rows)


def handle_status(context: CommandContext, *, workspace: Workspace) -> Result:
    """The runs (below), then the deploy locks as far as this job can know them without the
    cluster credential (lock_board.py)."""
    from .lock_board import status_lines

    result = _runs_status(context, workspace=workspace)
    if context.command.run_id is not None:
        return result
    details = [*(result.changes.get("details") or []), *status_lines(context.github, context.base.data)]
    return Result(result.state, {**result.changes, "details": details})


def _runs_status(context: CommandContext, *, workspace: Workspace) -> Result:
    """This PR's runs, newest first; open ones re-read from KFP, and their own reports brought up
    to date (finished, when they ended)."""
    pr, wanted = context.pull.number, context.command.run_id
    found = runs_in(context.github.status_comments(pr))
    if wanted is not None:
        found = [(s, r) for s, r in found if r.run_id == wanted]
        if not found:
            return Result.of("skipped", summary=f"No run `{wanted}` was started from this pull request.")
    remote: KfpRemote | None = None
    runs = []
    for status_record, run in found:
        if run.open:
            remote = remote or base_remote(context, workspace)
            run, _ = refresh(context.github, remote, pr, status_record, run, log=context.log,
                             sections=_sections(context, workspace, remote))
        runs.append(run)
    if not runs:
        return Result.of("succeeded", summary="No pipeline run was started from this pull request yet: "
                                              "`/run` or `/build_run` starts one.")
    latest = runs[::-1][:STATUS_ROWS]
    active = sum(1 for r in runs if r.open)
    summary = f"{len(runs)} run(s) started from this pull request, {active} still running."
    if len(runs) > STATUS_ROWS:
        summary += f" The latest {STATUS_ROWS} are listed."
    return Result.of("succeeded", summary=summary, table=_runs_table(latest))


def handle_cancel(context: CommandContext, *, workspace: Workspace) -> Result:
    """Terminate this PR's active run (all of them, should there be several; or `--run-id`, which
    must be one of this PR's): KFP's terminate, then the run's own report says who canceled it.
    A record only names the run: KFP must confirm it is this PR's (provenance.verify_run) before
    it is terminated, since a status comment "by the action" may come from any workflow."""
    pr, wanted, github = context.pull.number, context.command.run_id, context.github
    if wanted is not None:
        found = [(s, r) for s, r in runs_in(github.status_comments(pr)) if r.run_id == wanted]
        if not found:
            return Result.of("skipped", summary=f"Nothing canceled: no run `{wanted}` was started from this pull "
                                                "request.")
        targets = [(s, r) for s, r in found if r.open]
        if not targets:
            return Result.of("skipped", summary=f"Nothing canceled: run `{wanted}` has already ended "
                                                f"({ui_state(found[0][1].state)}).")
    else:
        targets = open_runs(github, pr)
        if not targets:
            return Result.of("skipped", summary="Nothing to cancel: no run of this pull request is running.")
    remote = base_remote(context, workspace)
    canceled: list[RunRecord] = []
    refused: list[str] = []  # why a record's run was left alone
    for status_record, run in targets:
        verified = verify_run(remote, run, pr=pr, succeeded=False)
        if isinstance(verified, Refusal):
            refused.append(verified.reason)
            continue
        remote.terminate_run(run.run_id)
        status = remote.get_run(run.run_id)
        run = run.with_status(status)
        if run.open or run.state in ("CANCELING", "CANCELED"):
            run = dataclasses.replace(run, state="CANCELING" if run.open else run.state,
                                      canceled_by=context.event.user)
        show_in(github, pr, status_record, run, status)
        conclude(github, run, context.log)
        canceled.append(run)
    not_canceled = " ".join(f"Not canceled: {reason}" for reason in refused)
    if not canceled:
        return Result.of("refused", summary=not_canceled)
    names = ", ".join(cell(Link(r.run_name or r.run_id, r.run_url)) for r in canceled)
    summary = f"Asked Kubeflow to terminate {names}; each run's own report here says so."
    return Result.of("succeeded", table=_runs_table(canceled), summary=" ".join(filter(None, [summary, not_canceled])))
