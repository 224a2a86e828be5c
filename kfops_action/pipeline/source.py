"""Import the user's pipeline function from the file kfops.yaml names.

The file is user code: any exception while importing it is reported as a pipeline error pointing
at the user's line, not as a kfops traceback.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any

from ..errors import PipelineError, Problem


def _user_frame(exc: BaseException, file: Path) -> str | None:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve() == file.resolve():
            return f"{frame.filename}:{frame.lineno}"
    return None


def require_pipeline_file(file: Path) -> None:
    """The one message for a pipeline.file that is not there (checked before a child starts in
    its folder, and again by the child)."""
    if not file.is_file():
        raise PipelineError(f"pipeline file {file} not found",
                            fix="check pipeline.file in kfops.yaml (relative to kfops.yaml)")


def load_pipeline_function(file: Path, function: str) -> Any:
    """Import `file` as a module (its folder on sys.path, so sibling modules import) and return
    the pipeline function, refusing anything that is not a `@dsl.pipeline`.

    This runs the pull request's code: call it only inside the isolated child
    (pipeline/compile_worker.py, started by pipeline/isolated.py), never in a process that holds
    credentials."""
    require_pipeline_file(file)
    module_name = f"_kfops_pipeline_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise PipelineError(f"cannot import {file} as Python", fix="pipeline.file must be a .py file")
    module = importlib.util.module_from_spec(spec)
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)
    try:
        from ..quiet import quiet_kfp

        with quiet_kfp():
            spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise PipelineError(f"{file} has a syntax error",
                            [Problem(exc.msg or "invalid syntax", f"{exc.filename}:{exc.lineno}:{exc.offset}")]) from None
    except Exception as exc:  # user code: anything may go wrong
        raise PipelineError(f"importing {file} failed: {type(exc).__name__}: {exc}",
                            [Problem("raised here", _user_frame(exc, file))] if _user_frame(exc, file) else [],
                            fix="run `python " + str(file) + "` to see the full traceback") from None
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
    func = getattr(module, function, None)
    if func is None:
        candidates = [n for n, v in vars(module).items() if _is_pipeline(v)]
        hint = f"pipelines defined there: {', '.join(candidates)}" if candidates else "no @dsl.pipeline found there"
        raise PipelineError(f"{file} has no function '{function}' ({hint})",
                            fix="set pipeline.function in kfops.yaml to the @dsl.pipeline function's name")
    if not _is_pipeline(func):
        raise PipelineError(f"'{function}' in {file} is not a KFP pipeline",
                            fix="decorate it with @kfp.dsl.pipeline")
    return func


def _is_pipeline(obj: Any) -> bool:
    from kfp.dsl import graph_component

    return isinstance(obj, graph_component.GraphComponent)
