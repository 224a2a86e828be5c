"""The child process that imports and compiles the pull request's pipeline.py.

`python -m kfops_action.pipeline.compile_worker FILE FUNCTION OUT RESULT`, started only by
pipeline/isolated.py, with an environment that holds no credentials. User code runs here and
nowhere else: importing a pipeline file executes it, and a pull request's file is written by
whoever opened the pull request.

The outcome goes back to the parent as JSON in RESULT (never pickle: the parent must not
execute anything this process produced): `{"ok": true}`, or `{"ok": false, "error": {...}}` with
the PipelineError's message, located problems and fix, so the parent raises the error the
user would have seen from an in-process compile.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..errors import KfopsError, PipelineError, Problem

MAX_TEXT = 4000  # per field: a result is a message, not a payload


def error_to_json(exc: KfopsError) -> dict[str, Any]:
    return {"what": exc.what, "fix": exc.fix,
            "problems": [{"message": p.message, "where": p.where} for p in exc.problems]}


def error_from_json(data: Any) -> PipelineError:
    """Rebuild the child's error; anything malformed becomes a plain message, never a crash."""
    def text(value: Any) -> str | None:
        return value[:MAX_TEXT] if isinstance(value, str) else None

    if not isinstance(data, dict):
        return PipelineError("the pipeline compiler returned an unreadable error")
    problems = [Problem(text(p.get("message")) or "", text(p.get("where")))
                for p in data.get("problems") or [] if isinstance(p, dict)][:50]
    return PipelineError(text(data.get("what")) or "the pipeline did not compile", problems, text(data.get("fix")))


def compile_file(file: Path, function: str, out: Path) -> dict[str, Any]:
    from .hardening import drop_capabilities
    from .package import compile_pipeline
    from .source import load_pipeline_function

    drop_capabilities()
    try:
        compile_pipeline(load_pipeline_function(file, function), out)
    except KfopsError as exc:
        return {"ok": False, "error": error_to_json(exc)}
    except BaseException as exc:  # noqa: BLE001 - user code may raise or exit with anything
        return {"ok": False, "error": {"what": f"compiling {file} failed: {type(exc).__name__}: {exc}",
                                       "fix": f"run `python {file}` to see the full traceback"}}
    return {"ok": True}


def main(argv: list[str]) -> int:
    file, function, out, result = argv
    outcome = compile_file(Path(file), function, Path(out))
    Path(result).write_text(json.dumps(outcome), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
