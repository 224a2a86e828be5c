"""Following runs from the PR: while the job may, then after it (hand-over).

- `follow`: polls KFP (free for GitHub) with adaptive intervals and edits the run's status comment
  on each run-state change at once, on task changes at most once per `FollowPolicy.edit_gap`: the
  GitHub cost of following a run stays far below 60 requests an hour (benchmarks/bench_action.py).
  When the job's time is up (`follow-minutes`) the run is handed over: its comment says so, its
  commit status stays pending, and its record stays open.
- `refresh`: re-reads one open run from KFP and re-renders *its* status comment (written by an
  earlier invocation) from the record there; when the run ended, sets its kfops/run commit status
  and reacts on the comment that asked for it. `/status`, `/cancel`, the check before a second
  `/run`, and the scheduled hand-over all finish reports through it.
- `finish_open_runs`: the `schedule` mode: every open (or recently closed) PR, every open run
  record, refreshed.

Records are read only from comments the action itself wrote (GitHubRepo.status_comments).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import KfopsError
from ..github.render import Report, duration, render
from ..github.statuses import RUN_CONTEXT
from .ports import CONFUSED, ROCKET, ConfigSource, GitHubPort
from .runs import NOT_FOUND, RunRecord, commit_state, report_fields, runs_in, ui_state

if TYPE_CHECKING:
    from ..kubeflow.remote import KfpRemote, RunStatus

CLOSED_DAYS = 2.0  # the sweep also finishes runs of PRs closed this recently
HANDOVER = ("The run goes on in Kubeflow: `/status` shows its latest state, and the scheduled kfops "
            "workflow (or the next `/status`) posts its final report here.")


@dataclass(frozen=True)
class FollowPolicy:
    """How a run is followed. Polling KFP costs no GitHub request; edits of the status comment
    do: run-state changes are shown at once, task changes at most once per `edit_gap`."""

    minutes: float = 300.0            # the `follow-minutes` input; 0 hands over at once
    poll_seconds: float = 10.0        # KFP polling starts here...
    max_poll_seconds: float = 120.0   # ...and grows 1.5x per unchanged poll up to this
    edit_min_gap: float = 90.0        # task-only edits: at least 90 s apart,
    edit_gap_ratio: float = 0.25      # and a quarter of the time followed so far,
    edit_max_gap: float = 900.0       # but never more than 15 minutes apart

    def edit_gap(self, followed: float) -> float:
        return min(self.edit_max_gap, max(self.edit_min_gap, followed * self.edit_gap_ratio))


@dataclass
class Followed:
    run: RunRecord
    status: RunStatus | None
    handover: str | None = None       # why the job stopped following (None: the run ended)
    edits: int = 0                    # status comment updates made while following


def follow(remote: KfpRemote, run: RunRecord, show: Callable[[RunRecord, RunStatus], None], *,
           policy: FollowPolicy, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> Followed:
    """Follow `run` until it ends or `policy.minutes` pass; `show` edits its status comment
    (the caller writes the final report). KFP unreachable for longer than the wait loop's
    retries also hands over: the run itself is not affected."""
    from ..errors import RemoteError, RunFailed
    from ..kubeflow.wait import wait_for_run

    start = clock()
    result = Followed(run, None)
    held = False
    last_edit = start

    def edit(status: RunStatus) -> None:
        nonlocal held, last_edit
        show(result.run, status)
        result.edits += 1
        held, last_edit = False, clock()

    def on_update(status: RunStatus) -> None:
        nonlocal held
        state_changed = status.state != result.run.state
        result.run, result.status = result.run.with_status(status), status
        if status.terminal:
            held = False  # the caller shows the end
        elif state_changed:
            edit(status)
        else:
            held = True   # task changes only: shown when the edit gap allows

    def on_poll(status: RunStatus) -> None:
        result.status = status
        if held and not status.terminal and clock() - last_edit >= policy.edit_gap(clock() - start):
            edit(status)

    try:
        wait_for_run(remote, run.run_id, timeout=policy.minutes * 60, poll_interval=policy.poll_seconds,
                     max_poll_interval=policy.max_poll_seconds, on_update=on_update, on_poll=on_poll,
                     clock=clock, sleep=sleep)
    except RunFailed as exc:
        if exc.state != "TIMEOUT":
            raise
        result.handover = f"Followed for {duration(clock() - start)}, as long as this job may."
    except RemoteError as exc:
        result.handover = f"Lost contact with Kubeflow while following the run ({exc.what})."
    return result


# -- other invocations' runs --------------------------------------------------------------------


def render_run(run: RunRecord, status: RunStatus | None = None, *, note: str | None = None,
               sections: Sequence[str] = ()) -> str:
    return render(Report(f"/{run.command}", **report_fields(run, status, note=note, now=_now(),
                                                            sections=sections)))


def show_in(github: GitHubPort, pr: int, status_record: Any, run: RunRecord, status: RunStatus | None, *,
            note: str | None = None, sections: Sequence[str] = ()) -> None:
    """Edit the status comment that holds `run` (another invocation's: no new comment)."""
    comment = github.status_comment(pr, status_record.key)
    comment.adopt(status_record)
    comment.update(render_run(run, status, note=note, sections=sections), force=True)


def conclude(github: GitHubPort, run: RunRecord, log: Callable[[str], None], *, react: bool = True) -> None:
    """What the PR shows for an ended run besides its comment: the kfops/run commit status on the
    pinned head, and (when another invocation finishes it) rocket or confused on the command
    comment. Both are courtesies: a failure is logged, not raised."""
    verdict = ui_state(run.state) if run.state != NOT_FOUND else "no longer known to KFP"
    by = f" by @{run.canceled_by}" if run.canceled_by else ""
    try:
        github.set_status(run.sha, context=RUN_CONTEXT, state=commit_state(run.state),
                          description=f"run {verdict}{by}", target_url=run.run_url or None)
    except KfopsError as exc:
        log(f"warning: could not set the {RUN_CONTEXT} status: {exc.what}")
    if react and run.key.isdigit():
        try:
            github.add_reaction(int(run.key), ROCKET if run.succeeded else CONFUSED)
        except KfopsError as exc:
            log(f"warning: could not react on comment {run.key}: {exc.what}")


def refresh(github: GitHubPort, remote: KfpRemote, pr: int, status_record: Any, run: RunRecord, *,
            log: Callable[[str], None], note: str | None = None,
            sections: Callable[[RunRecord], Sequence[str]] | None = None) -> tuple[RunRecord, RunStatus | None]:
    """Re-read an open run from KFP and bring its own status comment up to date; an ended run's
    report is finished there (comment, commit status, reaction; `sections(run)`, e.g. its metrics
    from run_metrics.sections_for, computed once as it is seen ended). Returns the updated record."""
    from ..kubeflow.remote import NotFound

    try:
        status: RunStatus | None = remote.get_run(run.run_id)
    except NotFound as exc:
        if not exc.from_api:
            raise
        status = None
        run = dataclasses.replace(run, state=NOT_FOUND)
        note = f"Kubeflow no longer knows run {run.run_id} (deleted?): its outcome is unknown."
    if status is not None:
        run = run.with_status(status)
        if not status.terminal:
            run = dataclasses.replace(run, handed_over=True)
            note = note or HANDOVER
    extra = sections(run) if sections is not None and not run.open else ()
    show_in(github, pr, status_record, run, status, note=note, sections=extra)
    if not run.open:
        conclude(github, run, log)
        _conclude_check_run(github, run, status, note=note, sections=extra, log=log)
    return run, status


def _conclude_check_run(github: GitHubPort, run: RunRecord, status: RunStatus | None, *, note: str | None,
                        sections: Sequence[str], log: Callable[[str], None]) -> None:
    """The check run the job that handed the run over left in progress gets the final report
    (github.check_runs: found by its command's name and key). A courtesy, like `conclude`."""
    finish = getattr(github, "conclude_check_run", None)
    if finish is None:
        return
    report = Report(f"/{run.command}", **report_fields(run, status, note=note, now=_now(), sections=sections))
    try:
        finish(sha=run.sha, command=run.command, key=run.key, report=report)
    except KfopsError as exc:
        log(f"warning: could not complete the check run of run {run.run_id}: {exc.what}")


def open_runs(github: GitHubPort, pr: int, *, exclude: str | None = None) -> list[tuple[Any, RunRecord]]:
    return [(s, r) for s, r in runs_in(github.status_comments(pr)) if r.open and r.key != exclude]


# -- connecting to Kubeflow from the base branch's kfops.yaml ----------------------------------------


def remote_from(kubeflow: Mapping[str, Any] | None, *, namespace: str | None, env: Mapping[str, str],
                base_dir: Path, add_secret: Callable[[str], None]) -> KfpRemote:
    """A KFP client; every credential it will send is registered for masking and scrubbing."""
    from ..kubeflow.connection import resolve_connection
    from ..kubeflow.remote import KfpRemote

    conn = resolve_connection(kubeflow, namespace=namespace, endpoint_override=None, env=env, base_dir=base_dir)
    for secret in conn.secrets():
        add_secret(secret)
    return KfpRemote(conn)


def remote_from_base(data: Mapping[str, Any] | None, *, env: Mapping[str, str], base_dir: Path,
                     add_secret: Callable[[str], None]) -> KfpRemote:
    """Where credentials go comes from the base branch only (kubeflow; pipeline.namespace)."""
    data = data or {}
    pipeline = data.get("pipeline") if isinstance(data.get("pipeline"), Mapping) else {}
    kubeflow = data.get("kubeflow") if isinstance(data.get("kubeflow"), Mapping) else None
    return remote_from(kubeflow, namespace=pipeline.get("namespace"), env=env, base_dir=base_dir,
                       add_secret=add_secret)


# -- schedule mode ------------------------------------------------------------------------------


@dataclass
class Sweep:
    """What one scheduled pass did."""

    pulls: int = 0
    open_runs: int = 0
    finished: int = 0
    running: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.pulls} pull request(s), {self.open_runs} open run(s): {self.finished} finished, "
                f"{self.running} still running")
        return text + (f", {len(self.errors)} error(s)" if self.errors else "")


def _pulls_to_sweep(github: Any, closed_days: float) -> list[dict[str, Any]]:
    since = (_now() - timedelta(days=closed_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return github.pulls(state="open") + (github.pulls(state="closed", since=since) if closed_days > 0 else [])


def count_open_runs(github: Any, closed_days: float = CLOSED_DAYS) -> int:
    """How many handed-over runs wait for a report, on the pull requests a sweep looks at."""
    return sum(len(open_runs(github, int(issue["number"]))) for issue in _pulls_to_sweep(github, closed_days))


def finish_open_runs(github: Any, *, base_config: ConfigSource, config_path: str, env: Mapping[str, str],
                     base_dir: Path, add_secret: Callable[[str], None], log: Callable[[str], None],
                     closed_days: float = CLOSED_DAYS) -> Sweep:
    """The scheduled hand-over: for each open PR (and each closed in the last `closed_days`: a
    PR merged or closed while its run went on still gets its report), each run record the action
    left open, re-read KFP and update (or finish) that run's report. KFP is reached with the PR's
    base branch's kfops.yaml, as for commands. A failure on one PR is logged, the others go on."""
    from .base_config import parse_base_config
    from .requirements import pull_state
    from .run_metrics import sections_for

    sweep = Sweep()
    remotes: dict[str, tuple[KfpRemote, Callable[[RunRecord], list[str]]]] = {}
    for issue in _pulls_to_sweep(github, closed_days):
        sweep.pulls += 1
        number = int(issue["number"])
        try:
            found = open_runs(github, number)
            if not found:
                continue
            sweep.open_runs += len(found)
            base_ref = pull_state(github.get_pull(number), number).base_ref or ""
            if base_ref not in remotes:
                base = parse_base_config(base_config(base_ref), ref=base_ref, path=config_path)
                remote = remote_from_base(base.data, env=env, base_dir=base_dir, add_secret=add_secret)
                remotes[base_ref] = (remote, sections_for(remote.connection, base.data, env=env,
                                                          pipeline_root=_pipeline_root(base.data), log=log))
            remote, sections = remotes[base_ref]
            for status_record, run in found:
                updated, _ = refresh(github, remote, number, status_record, run, log=log, sections=sections)
                if updated.open:
                    sweep.running += 1
                else:
                    sweep.finished += 1
                log(f"#{number} run {run.run_id}: {updated.state}")
        except KfopsError as exc:
            sweep.errors.append(f"#{number}: {exc.what}")
            log(f"error: #{number}: {exc}")
    return sweep


def _pipeline_root(data: Mapping[str, Any] | None) -> str | None:
    pipeline = (data or {}).get("pipeline")
    return pipeline.get("root") if isinstance(pipeline, Mapping) else None


def _now() -> datetime:
    return datetime.now(timezone.utc)
