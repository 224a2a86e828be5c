"""Does the pipeline compile, and do the configured parameters fit it?

Compiled into a temporary folder: `kfc doctor` leaves no files behind (`kfc validate` writes the
package where `kfc build` would).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from . import PIPELINE_COMMANDS, Context, Result, fail, ok, rel, skip

NAME = "pipeline"


def check(ctx: Context) -> list[Result]:
    if ctx.config is None:
        return [skip(NAME, "needs a valid kfops.yaml")]
    from ...errors import KfopsError
    from ...pipeline.isolated import compile_isolated
    from ...pipeline.parameters import resolve_parameters

    settings = ctx.config.pipeline
    where = f"{rel(settings.file, ctx.cwd)}:{settings.function}"
    try:
        with tempfile.TemporaryDirectory(prefix="kfops-doctor-") as tmp:  # no credentials for it either
            package = compile_isolated(settings.file, settings.function, Path(tmp) / "pipeline.yaml")
        rows = resolve_parameters(package, settings.parameters, is_override=lambda name: False,
                                  where=lambda name: ctx.config.where(f"pipeline.parameters.{name}"))
    except KfopsError as exc:
        detail = f"; {exc.problems[0]}" if exc.problems else ""
        return [fail(NAME, f"{where}: {exc.what}{detail}", exc.fix or "run `kfc validate` for details",
                     PIPELINE_COMMANDS)]
    ctx.facts["package"] = package  # the model check reads its outputs
    return [ok(NAME, f"{where} compiles as {package.name!r} ({len(rows)} parameters, "
                     f"{len(package.spec.get('root', {}).get('dag', {}).get('tasks', {}))} tasks)")]
