"""/build, /run, /build_run and `kfc build|run|build-run`: one composition of the steps.

prepare (images, compile) -> check parameters -> upload -> start -> follow. The CLI and the
Action differ only in what they render and where; the order of the steps, and the rule that
parameters are checked before anything is uploaded or started, live here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..config import Config
from ..pipeline.parameters import RunParameter
from .build import Built, prepare, upload
from .reporter import Reporter
from .run import follow, run_parameters, start_remote

if TYPE_CHECKING:
    from typing import IO

    from ..kubeflow.remote import KfpRemote, RunRef, RunStatus
    from ..pipeline.local_run import LocalRunResult

COMMANDS = ("build", "run", "build_run")


@dataclass(frozen=True)
class PipelineOutcome:
    built: Built
    parameters: list[RunParameter] = field(default_factory=list)
    run: RunRef | None = None
    status: RunStatus | None = None  # None when not followed
    local: LocalRunResult | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is None or self.status.succeeded


def execute(command: str, config: Config, *, remote: KfpRemote | None, reporter: Reporter,
            wait: bool = False, timeout: float | None = None, poll_interval: float = 5.0,
            pr: int | None = None, package_file: Path | None = None,
            on_started: Callable[[Built, RunRef, list[RunParameter]], None] | None = None,
            local: bool = False, log_stream: IO[str] | None = None, cache: bool = True) -> PipelineOutcome:
    """Run one pipeline command.

    `local=True` runs on this machine with kfp.local (no images: the tasks run in this Python
    environment); otherwise `remote=None` is a dry run: compile and check, touch nothing.
    """
    if command not in COMMANDS:
        raise ValueError(f"unknown pipeline command {command!r}")
    runs = command != "build"
    store = None
    if local and runs and cache:  # `cache=False` is --no-cache: neither read nor written
        from ..pipeline.local_cache import open_cache

        store = open_cache(config.base_dir, reporter.warning)
    built = prepare(config, reporter, package_file=package_file,
                    images=command != "run" and remote is not None and not local,
                    isolated=not (local and runs), cache=store)  # a local run executes this code here anyway
    parameters = run_parameters(config, built) if runs or remote is None else []
    if local and runs:
        from .run import run_locally

        result = run_locally(config, built, parameters, reporter=reporter, stream=log_stream, cache=store)
        return PipelineOutcome(built, parameters, local=result)
    if remote is None:
        return PipelineOutcome(built, parameters)
    built = upload(config, built, remote=remote, reporter=reporter)
    if not runs:
        return PipelineOutcome(built)
    run = start_remote(config, built, parameters, remote=remote, reporter=reporter, pr=pr)
    if on_started is not None:
        on_started(built, run, parameters)
    if not wait:
        return PipelineOutcome(built, parameters, run)
    status = follow(run, remote=remote, reporter=reporter, timeout=timeout, poll_interval=poll_interval)
    return PipelineOutcome(built, parameters, run, status)
