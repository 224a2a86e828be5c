"""Run: check parameters, start the run (remote or local), follow it when asked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from ..config import Config
from ..pipeline.naming import run_name
from ..pipeline.parameters import RunParameter, arguments, resolve_parameters
from .build import Built
from .reporter import Reporter

if TYPE_CHECKING:
    from ..kubeflow.remote import KfpRemote, RunRef, RunStatus
    from ..pipeline.local_cache import LocalCache
    from ..pipeline.local_run import LocalRunResult


def run_parameters(config: Config, built: Built) -> list[RunParameter]:
    """The full parameters table, checked against the compiled inputs before anything is sent."""
    return resolve_parameters(
        built.package,
        config.pipeline.parameters,
        is_override=lambda name: config.is_overridden(f"pipeline.parameters.{name}"),
        where=lambda name: config.where(f"pipeline.parameters.{name}") or "pipeline.parameters",
    )


@dataclass(frozen=True)
class RemoteRun:
    run: RunRef
    parameters: list[RunParameter]
    final: RunStatus | None  # None when not waited for


def start_remote(config: Config, built: Built, parameters: list[RunParameter], *, remote: KfpRemote,
                 reporter: Reporter, pr: int | None = None) -> RunRef:
    if built.version is None:
        raise ValueError("start_remote needs a pipeline version: build with a remote first")
    settings = config.pipeline
    experiment_id = remote.ensure_experiment(settings.experiment)
    name = run_name(settings.name, built.commit, pr)
    run = remote.start_run(
        display_name=name,
        experiment_id=experiment_id,
        version=built.version,
        parameters=arguments(parameters),
        service_account=settings.service_account,
        pipeline_root=settings.root,
        description=f"kfops: {settings.name} at {built.commit.sha or 'an uncommitted tree'}",
    )
    reporter.progress(f"started run {run.display_name} in experiment {settings.experiment}")
    return run


def follow(run: RunRef, *, remote: KfpRemote, reporter: Reporter, timeout: float | None,
           poll_interval: float) -> RunStatus:
    from ..kubeflow.wait import wait_for_run

    def on_update(status: RunStatus) -> None:
        reporter.progress(f"run {status.state.lower()}")

    return wait_for_run(remote, run.run_id, timeout=timeout, poll_interval=poll_interval, on_update=on_update)


def run_locally(config: Config, built: Built, parameters: list[RunParameter], *,
                reporter: Reporter, stream: IO[str] | None = None,
                cache: LocalCache | None = None) -> LocalRunResult:
    from ..pipeline.local_run import run_local

    reporter.progress("running locally with kfp.local.SubprocessRunner(use_venv=False)"
                      + (f", unchanged tasks from the cache in {cache.root}" if cache is not None else ""))
    return run_local(built.package, arguments(parameters), config.pipeline.local_outputs, stream=stream,
                     cache=cache)
