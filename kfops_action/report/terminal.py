"""What `kfc` prints: plain aligned tables, one line per fact, errors with their fix."""

from __future__ import annotations

import json
import sys
from typing import IO, Any, Iterable, Sequence

from ..errors import KfopsError


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


class TerminalReporter:
    """Progress to stderr (so stdout stays clean for results), results to stdout."""

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None, quiet: bool = False) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet

    def progress(self, message: str) -> None:
        if not self.quiet:
            print(f"• {message}", file=self.err, flush=True)

    def warning(self, message: str) -> None:
        print(f"warning: {message}", file=self.err, flush=True)

    def result(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def error(self, exc: KfopsError) -> None:
        print(f"error: {exc}", file=self.err, flush=True)


def parameters_table(parameters: Sequence[Any]) -> str:
    return table(["parameter", "value", "type", "overridden"],
                 [(p.name, p.value, p.type_name, "yes" if p.overridden else "")
                  for p in parameters])


def run_started_report(run: Any, parameters: Sequence[Any]) -> str:
    return "\n".join([f"Run {run.display_name} started", f"  {run.url}", "",
                      parameters_table(parameters)])


def _duration(status: Any) -> str:
    if status.created_at and status.finished_at:
        seconds = (status.finished_at - status.created_at).total_seconds()
        from ..github.render import duration  # one way to write a duration, in the PR and here

        return f" after {duration(seconds)}"
    return ""


def run_finished_report(status: Any) -> str:
    lines = [f"Run {status.run_id} {status.state}{_duration(status)}"]
    if status.error:
        lines.append(f"  cause: {status.error}")
    if status.tasks:
        lines += ["", table(["task", "state", "error"],
                            [(t.name, t.state, t.error or "") for t in status.tasks])]
    return "\n".join(lines)


def _relative(uri: str, base: Any) -> str:
    """Artifact paths under the outputs folder, shown relative to it: the folder is printed above."""
    from pathlib import Path

    try:
        return str(Path(uri).relative_to(base))
    except ValueError:
        return uri


def artifact_metadata_text(metadata: dict[str, Any]) -> str:
    """An artifact's metadata in one line; a confusion matrix and an ROC curve by their shape."""
    parts: list[str] = []
    matrix = metadata.get("confusionMatrix")
    if isinstance(matrix, dict):
        labels = [str((c or {}).get("displayName", "")) for c in matrix.get("annotationSpecs") or []]
        rows = [r.get("row") for r in matrix.get("rows") or [] if isinstance(r, dict)]
        parts.append(f"confusion matrix [{', '.join(labels)}] {_cell(rows)}")
    curve = metadata.get("confidenceMetrics")
    if isinstance(curve, list):
        parts.append(f"ROC curve, {len(curve)} thresholds")
    parts += [f"{k}={_cell(v)}" for k, v in metadata.items() if k not in ("confusionMatrix", "confidenceMetrics")]
    return ", ".join(parts)


def _artifact_cell(task: Any, name: str, uri: str, base: Any) -> str:
    """A path where the artifact is a file; a metrics artifact's values, which are not in one."""
    summary = artifact_metadata_text(task.artifact_metadata.get(name) or {})
    if not task.shows_path(name):
        return summary or "(no values logged)"
    path = _relative(uri, base)
    return f"{path}  ({summary})" if summary else path


def local_run_report(result: Any, parameters: Sequence[Any]) -> str:
    """Each task under the name the user gave it (iterations as `task[i]`, nested pipelines as
    `inner/task`) and in the order it ran, the pipeline's own outputs, and what did not run and why:
    a branch not taken is not a failure, but it must not vanish from the report either."""
    ran = [t for t in result.tasks if t.state == "succeeded"]
    cached = sum(bool(getattr(t, "cached", False)) for t in ran)
    lines = [f"Local run succeeded in {result.seconds:.1f}s"
             + (f" ({cached} of {len(ran)} tasks cached, --no-cache reruns them)" if cached else ""),
             f"  outputs: {result.outputs_dir}",
             f"  log:     {result.log_file}", "",
             parameters_table(parameters)]
    rows: list[tuple[str, str, Any]] = []
    for t in ran:
        label = f"{t.name} (cached)" if getattr(t, "cached", False) else t.name  # as KFP's UI marks it
        rows += [(label, name, value) for name, value in t.parameters.items()]
        rows += [(label, name, _artifact_cell(t, name, uri, result.outputs_dir))
                 for name, uri in t.artifacts.items()]
        if not t.parameters and not t.artifacts:
            rows.append((label, "", "(no outputs)"))
    if rows:
        lines += ["", table(["task", "output", "value"], rows)]
    if result.outputs:
        lines += ["", table(["pipeline output", "value"],
                            [(name, _relative(value, result.outputs_dir) if isinstance(value, str) else value)
                             for name, value in result.outputs.items()])]
    skipped = [t for t in result.tasks if t.state != "succeeded"]
    if skipped:
        lines += ["", table(["task", "not run because"], [(t.name, t.reason) for t in skipped])]
    return "\n".join(lines)  # metrics follow, with their comparison (kfops_action.metrics)
