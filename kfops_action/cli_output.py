"""`kfc --output json`: one stable JSON document per command, for scripts and CI.

The documents are built here from the same objects the text reports print, so the two cannot
say different things. Keys are only ever added, never renamed (scripts parse them); every
document is one JSON object on stdout, progress goes to stderr, and a failure is a document
too: `{"error": {...}}` with the same exit code as in text mode (errors.ExitCode). Numbers
JSON cannot hold (NaN, infinities) are written as the strings "nan", "inf", "-inf".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, Any

from .errors import KfopsError, Problem

FORMATS = ("text", "json")


def problem_document(problem: Problem) -> dict[str, Any]:
    """A problem with its place split out when it is a place in a file (file, line, column)."""
    position = problem.position()
    file, line, column = position if position is not None else (None, None, None)
    return {"message": problem.message, "where": problem.where, "file": file, "line": line, "column": column}


def error_document(exc: KfopsError, exit_code: int) -> dict[str, Any]:
    return {"error": {
        "kind": type(exc).__name__,
        "message": exc.what,
        "problems": [problem_document(p) for p in exc.problems],
        "fix": exc.fix,
        "exit_code": int(exit_code),
        **({"state": exc.state} if hasattr(exc, "state") else {}),  # RunFailed: FAILED, TIMEOUT, ...
    }}


def usage_error_document(message: str, prog: str) -> dict[str, Any]:
    """What argparse refuses, as a document, so a script never has to parse usage text."""
    return {"error": {"kind": "UsageError", "message": message, "problems": [], "fix": f"see `{prog} --help`",
                      "exit_code": 2}}


def parameters_document(rows: Iterable[Any]) -> list[dict[str, Any]]:
    return [{"name": r.name, "value": r.value, "type": r.type_name, "source": r.source,
             "overridden": r.overridden} for r in rows]


def validate_document(config: Any, built: Any, rows: Sequence[Any]) -> dict[str, Any]:
    return {"ok": True, "config": str(config.path), "pipeline": built.package.name,
            "package": str(built.package.path), "parameters": parameters_document(rows), "errors": []}


def validate_failure(config_path: str, error: dict[str, Any]) -> dict[str, Any]:
    """`kfc validate` keeps its own shape when it fails: ok false and every error, located."""
    return {"ok": False, "config": config_path, "pipeline": None, "package": None, "parameters": [],
            "errors": error["error"]["problems"] or [problem_document(Problem(error["error"]["message"]))],
            **error}


def build_document(built: Any) -> dict[str, Any]:
    version = built.version
    return {
        "pipeline": built.package.name,
        "package": str(built.package.path),
        "spec_hash": built.package.spec_hash,
        "commit": built.commit.sha,
        "dirty": built.commit.dirty,
        "version": version.version_name if version is not None else None,
        "version_id": version.version_id if version is not None else None,
        "pipeline_id": version.pipeline_id if version is not None else None,
        "uploaded": version.created if version is not None else False,
        "images": [{"name": i.name, "reference": i.reference, "digest": i.digest} for i in built.images],
    }


def status_document(status: Any, url: str | None) -> dict[str, Any]:
    """A run as Kubeflow reports it; `succeeded` is None while it has not ended."""
    return {
        "run_id": status.run_id,
        "name": status.display_name,
        "url": url,
        "state": status.state,
        "finished": status.terminal,
        "succeeded": status.succeeded if status.terminal else None,
        "error": status.error,
        "created_at": _time(status.created_at),
        "finished_at": _time(status.finished_at),
        "experiment_id": status.experiment_id,
        "pipeline_id": status.pipeline_id,
        "pipeline_version_id": status.pipeline_version_id,
        "tasks": [{"name": t.name, "state": t.state, "error": t.error} for t in status.tasks],
    }


def run_document(command: str, outcome: Any, metrics: dict[str, Any] | None) -> dict[str, Any]:
    """`kfc run` / `kfc build-run`: what was started with which parameters, and, after `--wait`
    (or a local run), how it ended. `state` is None when the run was started and not followed."""
    run, status, local = outcome.run, outcome.status, outcome.local
    document: dict[str, Any] = {
        "command": command,
        "mode": "local" if local is not None else "remote",
        **{k: v for k, v in build_document(outcome.built).items() if k != "images"},
        "images": [{"name": i.name, "reference": i.reference, "digest": i.digest} for i in outcome.built.images],
        "run_id": run.run_id if run is not None else None,
        "name": run.display_name if run is not None else None,
        "url": run.url if run is not None else None,
        "experiment_id": run.experiment_id if run is not None else None,
        "parameters": parameters_document(outcome.parameters),
        "state": None,
        "succeeded": None,
        "status": None,
        "local": None,
        "metrics": metrics,
    }
    if status is not None:
        document.update(state=status.state, succeeded=status.succeeded,
                        status=status_document(status, run.url if run is not None else None))
    if local is not None:
        document.update(state="SUCCEEDED", succeeded=True, local={
            "outputs_dir": str(local.outputs_dir), "log_file": str(local.log_file), "seconds": local.seconds,
            "tasks": [{"name": t.name, "parameters": t.parameters, "artifacts": t.artifacts, "metrics": t.metrics,
                       "cached": t.cached, "state": t.state, "reason": t.reason} for t in local.tasks],
            "outputs": local.outputs})
    return document


def metrics_document(comparison: Any) -> dict[str, Any]:
    """The run's metrics against the baseline, the same metrics.compare.Comparison the text report
    renders: where they were read (`source`), what they were compared with, one row a metric."""
    baseline = comparison.baseline
    return {
        "source": comparison.source,
        "notes": list(comparison.notes),
        "key_metric": comparison.key_metric,
        "key_task": comparison.key_task,
        "baseline": {"kind": baseline.kind, "run_id": baseline.run_id, "detail": baseline.detail,
                     "notes": list(baseline.notes)},
        "values": [{"task": r.task, "name": r.name, "value": r.value, "baseline": r.baseline, "delta": r.delta,
                    "direction": r.direction, "verdict": r.verdict} for r in comparison.rows],
    }


def emit(document: dict[str, Any], out: IO[str], secrets: Iterable[str] = ()) -> None:
    """One JSON object and a newline; secrets replaced as in text mode, in both their raw and
    their JSON-escaped spelling."""
    text = json.dumps(_finite(document), indent=2, default=str)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        for spelling in {secret, json.dumps(secret)[1:-1]}:
            text = text.replace(spelling, "***")
    print(text, file=out, flush=True)


def _finite(value: Any) -> Any:
    """NaN and infinities as the strings "nan", "inf", "-inf": JSON has no such numbers, and a
    loss of NaN is exactly what a script must be able to read."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
