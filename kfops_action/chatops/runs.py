"""The record a pipeline run leaves in its status comment, and the report drawn from it (pure).

A run outlives the workflow job that started it, so everything needed to report on it later
(`/status`, `/cancel`, the scheduled hand-over, and `/deploy`'s provenance check) is kept in the
run's own status comment as hidden JSON (`<!-- kfops:state {...} -->`, see github/render.py).
Only comments written by the action's own identity are read back (github/status_comment.py), so
a record cannot be forged by pasting the marker into a comment.

The record (provenance; `kind: "run"`, `v: 1`)::

    {"kind": "run", "v": 1,
     "key": "1001",                      # the command comment's id: the status comment's key
     "command": "build_run", "pr": 7,
     "requested_by": "alice", "requested_at": "2025-01-06T09:00:00Z",
     "sha": "<40 hex>",                  # the PR head pinned when the command arrived
     "pipeline": {"name": "...", "id": "...", "version_id": "...", "version_name": "<sha7>-<spec>"},
     "images": [{"name": "trainer", "reference": "reg/trainer:<sha7>", "digest": "sha256:..."}],
     "parameters": [{"name": "epochs", "value": 5, "overridden": true}],
     "run": {"id": "...", "name": "...", "url": "...", "experiment_id": "...",
             "state": "SUCCEEDED", "created_at": "...", "finished_at": "..."},
     "model": {"uri": null, "artifacts": {"train": {"model": ["42"]}}},
     "build_seconds": 12.5, "warnings": [], "handed_over": false, "canceled_by": null}

`model.uri` stays null: KFP's v2beta1 REST API lists a task's output *artifact ids* only; their
URIs (and metric values) live in ML Metadata, which /deploy resolves from those ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..github.render import ErrorInfo, Param, Task

KIND, VERSION = "run", 1
SUCCEEDED_STATES = frozenset({"SUCCEEDED", "SKIPPED"})
CANCELED_STATES = frozenset({"CANCELED", "CANCELING"})
NOT_FOUND = "NOT_FOUND"  # ours, not KFP's: KFP no longer knows the run (deleted)
TERMINAL_STATES = SUCCEEDED_STATES | CANCELED_STATES | {"FAILED", NOT_FOUND}


def ui_state(kfp_state: str) -> str:
    """KFP's run state as the status comment names it."""
    if kfp_state in SUCCEEDED_STATES:
        return "succeeded"
    if kfp_state in CANCELED_STATES:
        return "canceled"
    if kfp_state in ("FAILED", NOT_FOUND):
        return "failed"
    return "running"


def commit_state(kfp_state: str) -> str:
    """The kfops/run commit status for a KFP run state."""
    if kfp_state in SUCCEEDED_STATES:
        return "success"
    if kfp_state in CANCELED_STATES or kfp_state == NOT_FOUND:
        return "error"
    return "failure" if kfp_state == "FAILED" else "pending"


@dataclass(frozen=True)
class RunRecord:
    key: str
    command: str
    pr: int
    requested_by: str
    sha: str
    run_id: str
    run_name: str = ""
    run_url: str = ""
    experiment_id: str = ""
    state: str = "PENDING"
    created_at: str | None = None
    finished_at: str | None = None
    requested_at: str | None = None
    pipeline: Mapping[str, Any] = field(default_factory=dict)
    images: Sequence[Mapping[str, Any]] = ()
    parameters: Sequence[Mapping[str, Any]] = ()
    artifacts: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)
    model_uri: str | None = None
    build_seconds: float | None = None
    warnings: Sequence[str] = ()
    handed_over: bool = False
    canceled_by: str | None = None

    @property
    def open(self) -> bool:
        """Not known to have ended: reports on it are still to be finished."""
        return self.state not in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state in SUCCEEDED_STATES

    def with_status(self, status: Any) -> RunRecord:
        """Updated from a KFP RunStatus: state, times, and the output artifacts of its tasks."""
        artifacts = dict(self.artifacts)
        for task in status.tasks:
            outputs = {name: list(ids) for name, ids in getattr(task, "outputs", ()) if ids}
            if outputs:
                artifacts[task.name] = outputs
        return dataclasses.replace(self, state=status.state, created_at=_iso(status.created_at) or self.created_at,
                                   finished_at=_iso(status.finished_at) or self.finished_at, artifacts=artifacts)

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": KIND, "v": VERSION, "key": self.key, "command": self.command, "pr": self.pr,
            "requested_by": self.requested_by, "requested_at": self.requested_at, "sha": self.sha,
            "pipeline": dict(self.pipeline), "images": [dict(i) for i in self.images],
            "parameters": [dict(p) for p in self.parameters],
            "run": {"id": self.run_id, "name": self.run_name, "url": self.run_url,
                    "experiment_id": self.experiment_id, "state": self.state,
                    "created_at": self.created_at, "finished_at": self.finished_at},
            "model": {"uri": self.model_uri, "artifacts": {k: dict(v) for k, v in self.artifacts.items()}},
            "build_seconds": self.build_seconds, "warnings": list(self.warnings),
            "handed_over": self.handed_over, "canceled_by": self.canceled_by,
        }

    @classmethod
    def from_state(cls, data: Mapping[str, Any] | None) -> RunRecord | None:
        """The record in a status comment's state, or None when it holds no run (tolerant of
        missing fields: a record is never a reason to fail a command)."""
        if not isinstance(data, Mapping) or data.get("kind") != KIND:
            return None
        run = data.get("run")
        if not isinstance(run, Mapping) or not isinstance(run.get("id"), str) or not run["id"]:
            return None
        model = data.get("model") if isinstance(data.get("model"), Mapping) else {}
        artifacts = model.get("artifacts") if isinstance(model.get("artifacts"), Mapping) else {}
        return cls(
            key=str(data.get("key") or ""), command=str(data.get("command") or "run"),
            pr=_int(data.get("pr")), requested_by=str(data.get("requested_by") or ""),
            sha=str(data.get("sha") or ""), run_id=run["id"], run_name=str(run.get("name") or ""),
            run_url=str(run.get("url") or ""), experiment_id=str(run.get("experiment_id") or ""),
            state=str(run.get("state") or "RUNTIME_STATE_UNSPECIFIED"),
            created_at=_str(run.get("created_at")), finished_at=_str(run.get("finished_at")),
            requested_at=_str(data.get("requested_at")),
            pipeline=dict(data["pipeline"]) if isinstance(data.get("pipeline"), Mapping) else {},
            images=[dict(i) for i in data.get("images") or [] if isinstance(i, Mapping)],
            parameters=[dict(p) for p in data.get("parameters") or [] if isinstance(p, Mapping)],
            artifacts={str(k): dict(v) for k, v in artifacts.items() if isinstance(v, Mapping)},
            model_uri=_str(model.get("uri")),
            build_seconds=data.get("build_seconds") if isinstance(data.get("build_seconds"), (int, float)) else None,
            warnings=[str(w) for w in data.get("warnings") or []],
            handed_over=bool(data.get("handed_over")), canceled_by=_str(data.get("canceled_by")),
        )


def runs_in(states: Iterable[Any]) -> list[tuple[Any, RunRecord]]:
    """(status comment record, run record) for each status comment holding a run, oldest first."""
    found = []
    for record in states:
        run = RunRecord.from_state(getattr(record, "data", None))
        if run is not None:
            found.append((record, run))
    return found


def latest_successful(records: Iterable[RunRecord], *, sha: str | None = None) -> RunRecord | None:
    """The provenance /deploy needs: the newest succeeded run (of `sha`, when given)."""
    chosen = None
    for run in records:
        if run.succeeded and (sha is None or run.sha == sha):
            chosen = run
    return chosen


# -- the report -------------------------------------------------------------------------------


def report_fields(run: RunRecord, status: Any = None, *, note: str | None = None,
                  now: datetime | None = None, sections: Sequence[str] = ()) -> dict[str, Any]:
    """The run's status comment (kfops_action.github.render.Report fields), from its record and,
    when one was just read, KFP's status (for the task table and the errors). `sections`: the
    finished run's metrics comparison (chatops/run_metrics.py), rendered after the tasks."""
    state = ui_state(run.state)
    details: list[tuple[str, object]] = []
    if run.pipeline.get("version_name"):
        details.append(("Pipeline version", f"{run.pipeline.get('name')}/{run.pipeline['version_name']}"))
    for image in run.images:
        digest = image.get("digest")
        details.append((f"Image {image.get('name')}", f"{image.get('reference')}"
                                                       + (f"@{digest}" if digest else "")))
    details.append(("KFP state", run.state))
    durations: list[tuple[str, float]] = []
    if run.build_seconds is not None:
        durations.append(("build", run.build_seconds))
    elapsed = _seconds_between(run.created_at, run.finished_at or (_iso(now) if now and run.open else None))
    if elapsed is not None:
        durations.append(("run", elapsed))
    summary = [note] if note else []
    if run.canceled_by:
        summary.append(f"Canceled by @{run.canceled_by} with /cancel.")
    fields: dict[str, Any] = dict(
        state=state, actor=run.requested_by or None, sha=run.sha or None, run_name=run.run_name or run.run_id,
        run_url=run.run_url or None, parameters=[Param(str(p.get("name")), p.get("value"), bool(p.get("overridden")))
                                                 for p in run.parameters],
        durations=durations, details=details, warnings=list(run.warnings),
        summary=" ".join(summary) or None, state_data=run.to_state(), errors=[], sections=list(sections))
    if status is not None:
        fields["tasks"] = [Task(t.name, t.state, t.error) for t in status.tasks]
        if state == "failed":
            fields["errors"] = [failure(status)]
    return fields


def failure(status: Any) -> ErrorInfo:
    """Why a run failed, as KFP says it: the first failed task named, with its reason."""
    failed = [t for t in status.tasks if t.state == "FAILED"]
    if failed:
        first = failed[0]
        others = "\n".join(f"task {t.name}: {t.error or 'failed'}" for t in failed[1:])
        details = "\n".join(filter(None, [others, f"run: {status.error}" if status.error else ""]))
        return ErrorInfo(f"task {first.name} failed: {first.error or 'no reason given by KFP'}", details,
                         "open the run in the KFP UI for the task's logs")
    return ErrorInfo(f"the run failed: {status.error or 'no reason given by KFP'}", "",
                     "open the run in the KFP UI for its logs")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.utcoffset() is None:
        return value.isoformat()
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        first = datetime.fromisoformat(start.replace("Z", "+00:00"))
        last = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    if (first.tzinfo is None) != (last.tzinfo is None):
        return None
    seconds = (last - first).total_seconds()
    return seconds if seconds >= 0 else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
