"""/build, /run and /build_run for the Action: the same handlers `kfc` uses, answered in the PR.

They compose kfops_action.handlers exactly as `kfc build` / `kfc run` / `kfc build-run` do
(prepare -> run_parameters -> upload -> start_remote -> follow), with two differences that the
pull request setting demands:

- Which code: the checked-out workspace must be at the head SHA pinned when the command arrived;
  anything else is refused (the PR author may have pushed since, or the workflow checked out the
  base branch). Checking out the PR head is the workflow's job (see the action's README).
- Which config: the `pipeline` and `images` sections describe the code under review, so they come
  from the PR's kfops.yaml, with the comment's `--set` applied (only `pipeline.*`, as for `kfc`).
  Every other section (`kubeflow`: where credentials are sent; `deployment`; `chatops`) comes from
  the base branch, so that a PR cannot point the Action's secrets at another server.

/deploy, /staging_deploy, /status and /cancel have no handler in this version: the dispatcher
answers that they are not available yet.

kfp, kubernetes and yaml are imported inside the handler, after the acknowledgement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, KfopsError
from .dispatch import CommandContext, Handler, Report

if TYPE_CHECKING:
    from ..config import Config

PIPELINE_COMMANDS = ("build", "run", "build_run")
AVAILABLE = frozenset(PIPELINE_COMMANDS)
PR_SECTIONS = frozenset({"version", "pipeline", "images"})
BASE_IMAGE_KEYS = frozenset({"kaniko"})


@dataclass(frozen=True)
class Workspace:
    """The checked-out pull request and how runs are followed, from the Action's inputs."""

    root: Path
    config_path: str = "kfops.yaml"
    env: Mapping[str, str] = field(default_factory=dict)
    wait: bool = True
    timeout: float | None = None
    poll_interval: float = 10.0


def pipeline_handlers(workspace: Workspace) -> dict[str, Handler]:
    return {name: partial(handle_pipeline, workspace=workspace) for name in PIPELINE_COMMANDS}


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


def handle_pipeline(context: CommandContext, *, workspace: Workspace) -> Report:
    from ..handlers.pipeline import execute

    name, dry_run = context.command.name, context.command.dry_run
    config = command_config(context, workspace)
    check_checkout(config, context.head_sha)
    remote = None if dry_run else _remote(config, workspace, context)
    outcome = execute(
        name, config, remote=remote, reporter=context.progress, wait=workspace.wait,
        timeout=workspace.timeout, poll_interval=workspace.poll_interval, pr=context.pull.number,
        on_started=(lambda built, run, parameters: context.post(run_started_report(context, built, run, parameters)))
        if workspace.wait else None,
    )
    if dry_run:
        return Report(True, dry_run_report(context, outcome.built, outcome.parameters))
    if outcome.run is None:
        return Report(True, build_report(context, outcome.built))
    if outcome.status is None:
        return Report(True, run_started_report(context, outcome.built, outcome.run, outcome.parameters))
    return Report(outcome.succeeded, run_finished_report(context, outcome.run, outcome.status))


def _remote(config: Config, workspace: Workspace, context: CommandContext) -> Any:
    from ..kubeflow.connection import resolve_connection
    from ..kubeflow.remote import KfpRemote

    conn = resolve_connection(config.section("kubeflow"), namespace=config.pipeline.namespace,
                              endpoint_override=None, env=workspace.env, base_dir=config.base_dir)
    for secret in conn.secrets():
        context.add_secret(secret)
    return KfpRemote(conn)


# --- Markdown reports (minimal: the reporter issue brings the full PR report) ------------------


def _md(value: Any) -> str:
    import json

    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _parameters(parameters: Sequence[Any]) -> str:
    if not parameters:
        return ""
    return markdown_table(["parameter", "value", "type", "source"],
                          [(p.name, p.value, p.type_name, p.source) for p in parameters])


def _head(context: CommandContext, what: str) -> str:
    return (f"@{context.event.user} `{context.command.display()}` at `{context.head_sha[:7]}`: {what}")


def _log(context: CommandContext) -> str:
    if not context.progress.lines:
        return ""
    body = "\n".join(context.progress.lines)
    return f"<details><summary>log</summary>\n\n```\n{body}\n```\n</details>"


def _join(*blocks: str) -> str:
    return "\n\n".join(b for b in blocks if b)


def dry_run_report(context: CommandContext, built: Any, parameters: Sequence[Any]) -> str:
    return _join(_head(context, f"dry run: pipeline {built.package.name} compiles and its parameters check; "
                                "nothing was built, uploaded or run."),
                 _parameters(parameters), _log(context))


def build_report(context: CommandContext, built: Any) -> str:
    version = built.version
    rows = [("pipeline version", f"{version.pipeline_name}/{version.version_name}"),
            ("version id", version.version_id),
            ("uploaded", "yes" if version.created else "no, this version already existed")]
    rows += [(f"image {i.name}", i.reference + (f"@{i.digest}" if i.digest else "")) for i in built.images]
    return _join(_head(context, "built."), markdown_table(["", ""], rows), _log(context))


def run_started_report(context: CommandContext, built: Any, run: Any, parameters: Sequence[Any]) -> str:
    return _join(_head(context, f"run [{run.display_name}]({run.url}) started "
                                f"(pipeline version {built.version.version_name})."),
                 _parameters(parameters))


def run_finished_report(context: CommandContext, run: Any, status: Any) -> str:
    verdict = "succeeded" if status.succeeded else f"ended {status.state}"
    blocks = [_head(context, f"run [{run.display_name}]({run.url}) {verdict}.")]
    if status.error:
        blocks.append(f"Cause: {_md(status.error)}")
    if status.tasks:
        blocks.append(markdown_table(["task", "state", "error"],
                                     [(t.name, t.state, t.error or "") for t in status.tasks]))
    blocks.append(_log(context))
    return _join(*blocks)
