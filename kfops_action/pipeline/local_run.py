"""Run a compiled pipeline on this machine with KFP's own local runner, offline.

`kfp.local.SubprocessRunner(use_venv=False)` executes each task in a subprocess of the current
Python environment. Its limits are checked before running, so the user hears "why not" instead of
a half-run pipeline: container components need a container engine, and every lightweight
component pip-installs the kfp version that compiled it (and its packages_to_install) into the
*current* environment, which we refuse to let happen silently.
"""

from __future__ import annotations

import io
import re
import shlex
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import PipelineError, Problem, RunFailed
from .local_record import METRIC_SCHEMAS, NOT_RUN, TaskResult, collect, pipeline_outputs
from .package import PipelinePackage

if TYPE_CHECKING:
    from .local_cache import LocalCache

__all__ = ["METRIC_SCHEMAS", "LocalRunResult", "TaskResult", "check_runnable_locally", "run_local"]


@dataclass(frozen=True)
class LocalRunResult:
    outputs_dir: Path
    log_file: Path
    seconds: float
    tasks: list[TaskResult] = field(default_factory=list)  # those that ran, then those that did not
    outputs: dict[str, Any] = field(default_factory=dict)  # the pipeline's own: value or artifact path

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        return {t.key or t.name: t.metrics for t in self.tasks if t.metrics}  # keyed as KFP's task_name

    @property
    def not_run(self) -> list[TaskResult]:
        return [t for t in self.tasks if t.state == NOT_RUN]


def _executors(package: PipelinePackage) -> dict[str, dict[str, Any]]:
    return package.spec.get("deploymentSpec", {}).get("executors", {}) or {}


def _component_of_executor(package: PipelinePackage) -> dict[str, str]:
    return {c.get("executorLabel"): name for name, c in (package.spec.get("components") or {}).items()
            if c.get("executorLabel")}


# pip options whose value is the next word: that word is an index or a file, not a requirement
# (`pip_index_urls` compiles to `--index-url URL --trusted-host URL` on every install line).
_PIP_OPTIONS_WITH_VALUE = {"-i", "--index-url", "--extra-index-url", "--trusted-host", "-f", "--find-links",
                           "-c", "--constraint", "--root", "--prefix", "-t", "--target", "--src",
                           "--upgrade-strategy", "--progress-bar", "--python-version", "--platform",
                           "--implementation", "--abi", "--cache-dir", "--log", "--proxy", "--retries",
                           "--timeout", "--exists-action", "--cert", "--client-cert", "--config-settings",
                           "-C", "--global-option", "--report", "--only-binary", "--no-binary"}
_PIP_REQUIREMENT_FILES = {"-r", "--requirement", "-e", "--editable"}


def _pip_requirements(command: list[str]) -> list[str]:
    """The requirements each `pip install` in a lightweight component's command line installs
    (each once: kfp repeats the index options on both install lines)."""
    reqs: list[str] = []
    for part in command:
        for segment in re.split(r"&&|\n", part):
            if "pip install" not in segment:
                continue
            try:
                tokens = shlex.split(segment.split("pip install", 1)[1])
            except ValueError:
                continue
            skip_next = False
            for index, token in enumerate(tokens):
                if skip_next:
                    skip_next = False
                elif token in _PIP_OPTIONS_WITH_VALUE:
                    skip_next = True
                elif token in _PIP_REQUIREMENT_FILES and index + 1 < len(tokens):
                    reqs.append(f"{token} {tokens[index + 1]}")  # pip would read or fetch it
                    skip_next = True
                elif not token.startswith("-") and token not in ('"$0"', '"$@"', "$0", "$@"):
                    reqs.append(token)
    return list(dict.fromkeys(reqs))


def _unsatisfied(requirement: str) -> str | None:
    """None when the current environment already satisfies it (pip then installs nothing)."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(requirement)
    except InvalidRequirement:
        return requirement  # a URL or a path: pip would fetch it
    if req.marker is not None and not req.marker.evaluate():
        return None
    try:
        installed = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        return f"{requirement} (not installed)"
    if req.specifier and not req.specifier.contains(installed, prereleases=True):
        return f"{requirement} (installed: {installed})"
    return None


def check_runnable_locally(package: PipelinePackage, arguments: dict[str, Any] | None = None) -> None:
    """Refuse, with reasons, what `use_venv=False` cannot run without touching this environment,
    and what kfp.local itself would stop on with a message that names nothing."""
    from importlib import metadata

    problems: list[Problem] = []
    for name, spec in package.parameters.items():
        # kfp.local fills a missing argument from the IR default; `Optional[...] = None` compiles
        # to no default at all, and kfp.local then fails with "Unknown value type:" (kfp 2.17).
        if spec.optional and spec.default is None and name not in (arguments or {}):
            problems.append(Problem(
                f"parameter '{name}' ({spec.type_name}) is optional with no default (None), which "
                f"kfp.local cannot pass to a run; give it a value: --set pipeline.parameters.{name}=VALUE "
                "or pipeline.parameters in kfops.yaml (a run on Kubeflow accepts it unset)",
                str(package.path)))
    here = metadata.version("kfp")
    if package.sdk_version and package.sdk_version != here:
        problems.append(Problem(
            f"it was compiled by kfp {package.sdk_version}, this environment has kfp {here}: each task "
            f"would pip-install kfp=={package.sdk_version} into this environment", str(package.path)))
    owners = _component_of_executor(package)
    for label, executor in sorted(_executors(package).items()):
        component = owners.get(label, label).removeprefix("comp-")
        container = executor.get("container")
        if container is None:
            continue  # importers and other non-container executors are handled by kfp.local
        command = [*container.get("command", []), *container.get("args", [])]
        text = " ".join(command)
        if "ephemeral_component.py" not in text:
            kind = "a containerized Python component" if "kfp.dsl.executor_main" in text else "a container component"
            problems.append(Problem(f"component '{component}' is {kind} (image {container.get('image')}), "
                                    "which needs a container engine", str(package.path)))
            continue
        if package.sdk_version and package.sdk_version != here:
            continue  # already reported once for the whole package
        for req in _pip_requirements(container.get("command", [])):
            missing = _unsatisfied(req)
            if missing and not req.startswith("kfp=="):
                problems.append(Problem(f"component '{component}' installs {missing}; --local will not "
                                        "pip-install into your environment", str(package.path)))
    if problems:
        unset = sum("optional with no default" in p.message for p in problems)
        fix = "install the listed packages here (or recompile with this kfp), run container " \
              "components on Kubeflow (kfc run without --local)"
        if unset == len(problems):
            fix = "give each listed parameter a value, as each line says"
        elif unset:
            fix += "; give each listed parameter a value"
        raise PipelineError("this pipeline cannot run with the local runner", problems, fix=fix)


def run_local(package: PipelinePackage, arguments: dict[str, Any], outputs_root: Path,
              stream: IO[str] | None = None, cache: LocalCache | None = None) -> LocalRunResult:
    """Run `package` locally; kfp's log goes to a file in the outputs folder (and to `stream`).

    With a `cache`, unchanged tasks are restored instead of run, and when every task is unchanged
    the run is answered without starting kfp at all (local_cache.py says why and how)."""
    check_runnable_locally(package, arguments)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    outputs_dir = (outputs_root / f"{package.name}-{stamp}").resolve()
    suffix = 1
    while True:  # mkdir, not exists(): two runs started in the same second each get their own folder
        try:
            outputs_dir.mkdir(parents=True)
            break
        except FileExistsError:
            suffix += 1
            outputs_dir = (outputs_root / f"{package.name}-{stamp}-{suffix}").resolve()
    log_file = outputs_dir / "kfp-local.log"
    started = time.monotonic()
    if cache is not None:
        hit = _from_cache(package, arguments, cache, outputs_dir, log_file, stream, started)
        if hit is not None:
            return hit
    from kfp import components, local

    from ..quiet import quiet_kfp
    from .local_cache_kfp import step_cache

    with log_file.open("w", encoding="utf-8") as log:
        sink: IO[str] = _Tee(log, stream) if stream is not None else log
        try:
            with quiet_kfp(sink), step_cache(package, cache) if cache is not None else nullcontext():
                local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(outputs_dir),
                           workspace_root=str(outputs_dir / ".workspace"), raise_on_error=True)
                pipeline = components.load_component_from_file(str(package.path))
                returned = pipeline(**arguments)
        except Exception as exc:  # kfp.local raises RuntimeError on a failed task
            log.flush()
            raise RunFailed(f"local run failed: {_first_line(exc)}", "FAILED",
                            _succeeded_before(package, outputs_dir)
                            + [Problem(line, None) for line in _tail(log_file, 25)],
                            fix=f"the full log is {log_file}") from None
    seconds = time.monotonic() - started
    tasks = _collect_run(package, outputs_dir)
    return LocalRunResult(outputs_dir, log_file, seconds, tasks, pipeline_outputs(returned.outputs))


def _collect_run(package: PipelinePackage, outputs_dir: Path) -> list[TaskResult]:
    run_dirs = sorted(p for p in outputs_dir.glob(f"{package.name}-*") if p.is_dir())
    return collect(package.spec, run_dirs[-1]) if run_dirs else []


def _succeeded_before(package: PipelinePackage, outputs_dir: Path) -> list[Problem]:
    """Which tasks did finish: after a failure an exit handler's cleanup still runs, and a user
    wants to know it did (and what it returned) without reading kfp's log."""
    done = [t for t in _collect_run(package, outputs_dir) if t.state != NOT_RUN]
    if not done:
        return []
    return [Problem("tasks that succeeded: " + ", ".join(
        t.name + (f" ({', '.join(f'{k}={v}' for k, v in t.parameters.items())})" if t.parameters else "")
        for t in done), None)]


def _from_cache(package: PipelinePackage, arguments: dict[str, Any], cache: LocalCache, outputs_dir: Path,
                log_file: Path, stream: IO[str] | None, started: float) -> LocalRunResult | None:
    """The run, restored from the step cache, when every task is in it; else None (kfp runs)."""
    import shutil

    from .local_cache_plan import pipeline_resource_name, plan_full_hit, restore_plan

    plan = plan_full_hit(package, arguments, cache)
    if plan is None:
        return None
    run_folder = outputs_dir / pipeline_resource_name(package.name)
    restored = restore_plan(package, plan, cache, run_folder)
    if restored is None:
        shutil.rmtree(run_folder, ignore_errors=True)
        return None
    lines, outputs = restored
    text = "\n".join([f"Running pipeline: {package.name} (every task is in the local cache: nothing ran, "
                      "kfp was not started; --no-cache runs every task)", *lines,
                      f"Pipeline {package.name} finished with status SUCCESS (cached)"]) + "\n"
    log_file.write_text(text, encoding="utf-8")
    if stream is not None:
        stream.write(text)
    return LocalRunResult(outputs_dir, log_file, time.monotonic() - started, collect(package.spec, run_folder),
                          outputs)


class _Tee(io.TextIOBase):
    def __init__(self, *targets: IO[str]) -> None:
        self._targets = targets

    def write(self, text: str) -> int:
        for t in self._targets:
            t.write(text)
        return len(text)

    def flush(self) -> None:
        for t in self._targets:
            t.flush()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return re.sub(r"\x1b\[[0-9;]*m", "", text.splitlines()[0])


def _tail(path: Path, n: int) -> list[str]:
    """The failing task's traceback if the log has one (that is what the user needs), else the end."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip()
             for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    starts = [i for i, line in enumerate(lines) if "Traceback (most recent call last)" in line]
    if not starts:
        return [line.strip() for line in lines[-n:] if line.strip()]
    indent = len(lines[starts[-1]]) - len(lines[starts[-1]].lstrip())
    block = []
    for line in lines[starts[-1]:]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break  # back in kfp's own log lines
        block.append(line[indent:])
    return [line for line in block[-n:] if line.strip()]
