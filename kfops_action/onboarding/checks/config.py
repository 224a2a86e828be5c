"""Is kfops.yaml there and valid? Every other check reads it, so this one runs first."""

from __future__ import annotations

from . import Context, Result, fail, ok, rel

NAME = "config"


def check(ctx: Context) -> list[Result]:
    from ...config import load_config
    from ...errors import ConfigError

    path = ctx.cwd / (ctx.config_path or "kfops.yaml")  # an absolute config_path stays as it is
    if not path.is_file():
        ctx.config_problem = f"no {rel(path, ctx.cwd)}"
        fix = ("check the path given to -c/--config" if ctx.config_path
               else "run `kfc init` to create one, or pass -c path/to/kfops.yaml")
        return [fail(NAME, f"{path} does not exist", fix, ("every command",))]
    try:
        config = load_config(path)
    except ConfigError as exc:
        first = f"; first: {exc.problems[0]}" if exc.problems else ""
        more = f" (+{len(exc.problems) - 1} more: `kfc validate` lists them)" if len(exc.problems) > 1 else ""
        ctx.config_problem = exc.what
        fix = exc.fix or "see `kfc schema` for every allowed key"
        return [fail(NAME, f"{exc.what}{first}{more}", fix, ("every command",))]
    ctx.config = config
    sections = ", ".join(k for k in ("pipeline", "images", "kubeflow", "deployment", "metrics", "chatops")
                         if k in config.data)
    return [ok(NAME, f"{rel(path, ctx.cwd)} is valid ({sections})")]
