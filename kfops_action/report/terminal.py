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


def local_run_report(result: Any, parameters: Sequence[Any]) -> str:
    lines = [f"Local run succeeded in {result.seconds:.1f}s",
             f"  outputs: {result.outputs_dir}",
             f"  log:     {result.log_file}", "",
             parameters_table(parameters)]
    outputs = [(t.name, name, value) for t in result.tasks for name, value in t.parameters.items()]
    outputs += [(t.name, name, _relative(uri, result.outputs_dir))
                for t in result.tasks for name, uri in t.artifacts.items()]
    if outputs:
        lines += ["", table(["task", "output", "value"], outputs)]
    return "\n".join(lines)  # metrics follow, with their comparison (kfops_action.metrics)
