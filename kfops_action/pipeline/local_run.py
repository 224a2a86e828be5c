"""Run a compiled pipeline on this machine with KFP's own local runner, offline.

`kfp.local.SubprocessRunner(use_venv=False)` executes each task in a subprocess of the current
Python environment. Its limits are checked before running, so the user hears "why not" instead of
a half-run pipeline: container components need a container engine, and every lightweight
component pip-installs the kfp version that compiled it (and its packages_to_install) into the
*current* environment, which we refuse to let happen silently.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, IO

from ..errors import PipelineError, Problem, RunFailed
from .package import PipelinePackage

METRIC_SCHEMAS = {"system.Metrics", "system.ClassificationMetrics", "system.SlicedClassificationMetrics"}


@dataclass(frozen=True)
class TaskResult:
    name: str
    parameters: dict[str, Any]
    artifacts: dict[str, str]  # output name -> URI (a local path)
    metrics: dict[str, Any]


@dataclass(frozen=True)
class LocalRunResult:
    outputs_dir: Path
    log_file: Path
    seconds: float
    tasks: list[TaskResult] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        return {t.name: t.metrics for t in self.tasks if t.metrics}


def _executors(package: PipelinePackage) -> dict[str, dict[str, Any]]:
    return package.spec.get("deploymentSpec", {}).get("executors", {}) or {}


def _component_of_executor(package: PipelinePackage) -> dict[str, str]:
    return {c.get("executorLabel"): name for name, c in (package.spec.get("components") or {}).items()
            if c.get("executorLabel")}


def _pip_requirements(command: list[str]) -> list[str]:
    """The requirements each `pip install` in a lightweight component's command line installs."""
    reqs: list[str] = []
    for part in command:
        for segment in re.split(r"&&|\n", part):
            if "pip install" not in segment:
                continue
            try:
                tokens = shlex.split(segment.split("pip install", 1)[1])
            except ValueError:
                continue
            reqs += [t for t in tokens if not t.startswith("-") and t not in ('"$0"', '"$@"', "$0", "$@")]
    return reqs


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


def check_runnable_locally(package: PipelinePackage) -> None:
    """Refuse, with reasons, what `use_venv=False` cannot run without touching this environment."""
    from importlib import metadata

    problems: list[Problem] = []
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
        raise PipelineError("this pipeline cannot run with the local runner", problems,
                            fix="install the listed packages here (or recompile with this kfp), run "
                                "container components on Kubeflow (kfc run without --local)")


def run_local(package: PipelinePackage, arguments: dict[str, Any], outputs_root: Path,
              stream: IO[str] | None = None) -> LocalRunResult:
    """Run `package` locally; kfp's log goes to a file in the outputs folder (and to `stream`)."""
    check_runnable_locally(package)
    from kfp import components, local

    from ..quiet import quiet_kfp

    stamp = time.strftime("%Y%m%d-%H%M%S")
    outputs_dir = (outputs_root / f"{package.name}-{stamp}").resolve()
    suffix = 1
    while outputs_dir.exists():
        suffix += 1
        outputs_dir = (outputs_root / f"{package.name}-{stamp}-{suffix}").resolve()
    outputs_dir.mkdir(parents=True)
    log_file = outputs_dir / "kfp-local.log"
    started = time.monotonic()
    with log_file.open("w", encoding="utf-8") as log:
        sink: IO[str] = _Tee(log, stream) if stream is not None else log
        try:
            with quiet_kfp(sink):
                local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(outputs_dir),
                           workspace_root=str(outputs_dir / ".workspace"), raise_on_error=True)
                pipeline = components.load_component_from_file(str(package.path))
                pipeline(**arguments)
        except Exception as exc:  # kfp.local raises RuntimeError on a failed task
            log.flush()
            raise RunFailed(f"local run failed: {_first_line(exc)}", "FAILED",
                            [Problem(line, None) for line in _tail(log_file, 25)],
                            fix=f"the full log is {log_file}") from None
    seconds = time.monotonic() - started
    return LocalRunResult(outputs_dir, log_file, seconds, _collect(package, outputs_dir))


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


def _metric_outputs(package: PipelinePackage) -> dict[str, set[str]]:
    """Task name (as kfp.local names its folder) -> names of its metrics-typed output artifacts."""
    components = package.spec.get("components") or {}
    result: dict[str, set[str]] = {}

    def walk(dag: dict[str, Any]) -> None:
        for task_name, task in (dag.get("tasks") or {}).items():
            comp = components.get(task.get("componentRef", {}).get("name", ""), {})
            artifacts = comp.get("outputDefinitions", {}).get("artifacts", {}) or {}
            names = {n for n, a in artifacts.items()
                     if a.get("artifactType", {}).get("schemaTitle") in METRIC_SCHEMAS}
            if names:
                result[task_name] = names
            if "dag" in comp:
                walk(comp["dag"])

    walk(package.spec.get("root", {}).get("dag", {}))
    return result


def _collect(package: PipelinePackage, outputs_dir: Path) -> list[TaskResult]:
    """Read each task's executor_output.json: the same record KFP keeps for a remote run."""
    metric_outputs = _metric_outputs(package)
    tasks: list[TaskResult] = []
    for output_file in sorted(outputs_dir.glob("**/executor_output.json")):
        if ".workspace" in output_file.parts:
            continue
        task = output_file.parent.name
        try:
            data = json.loads(output_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        artifacts: dict[str, str] = {}
        metrics: dict[str, Any] = {}
        for out_name, entry in (data.get("artifacts") or {}).items():
            for art in entry.get("artifacts", []):
                artifacts[out_name] = art.get("uri", "")
                if out_name in metric_outputs.get(task, set()):
                    metrics.update(art.get("metadata") or {})
        tasks.append(TaskResult(task, dict(data.get("parameterValues") or {}), artifacts, metrics))
    return tasks

