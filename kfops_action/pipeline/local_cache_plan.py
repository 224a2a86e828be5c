"""Decide from the compiled IR alone whether every task of a local run is already in the cache.

Why without kfp: importing kfp costs most of an unchanged run. The keys computed here must equal
the ones the kfp hook (local_cache_kfp.py) computes from kfp's own resolved arguments, so both
build them from the same pieces: `task_static` from the IR, values through `canonical`, artifacts
by content. Anything this walk does not understand (conditions, loops, sub-DAGs, importers,
pipeline-level artifact inputs, expression selectors) answers "not a full hit": kfp then runs, and
the hook still reuses each unchanged task.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .local_cache import EXECUTOR_OUTPUT, LocalCache, StepEntry, Uncacheable, canonical
from .package import PipelinePackage

# Task fields that do not change what a task computes, or that this walk handles below.
_PLAIN_TASK_KEYS = {"taskInfo", "componentRef", "inputs", "dependentTasks", "cachingOptions", "retryPolicy"}


def task_static(spec: dict[str, Any], component_name: str) -> dict[str, Any] | None:
    """What a task runs, from the IR: its container (image, command and args carry the component's
    code), env, and its interface with defaults. None for non-container executors (importers)."""
    component = (spec.get("components") or {}).get(component_name) or {}
    label = component.get("executorLabel")
    executor = (spec.get("deploymentSpec", {}).get("executors") or {}).get(label) if label else None
    container = (executor or {}).get("container")
    if not isinstance(container, dict):
        return None
    try:
        return canonical({"component": component_name, "container": container,
                          "inputs": component.get("inputDefinitions") or {},
                          "outputs": component.get("outputDefinitions") or {}})
    except Uncacheable:
        return None


def caching_enabled(task: dict[str, Any]) -> bool:
    """KFP's rule: a task is cached unless `set_caching_options(False)` (or pipeline.caching: false)
    left its cachingOptions without enableCache."""
    return bool((task.get("cachingOptions") or {}).get("enableCache"))


@dataclass(frozen=True)
class PlannedTask:
    task: str
    folder: str  # the task folder's name, as kfp.local names it (component name without comp-)
    entry: StepEntry


def plan_full_hit(package: PipelinePackage, arguments: dict[str, Any],
                  cache: LocalCache) -> list[PlannedTask] | None:
    """Every task of the root DAG with its cache entry, in run order; None unless all are cached."""
    spec = package.spec
    tasks: dict[str, Any] = (spec.get("root", {}).get("dag", {}) or {}).get("tasks") or {}
    if not tasks or (spec.get("root", {}).get("inputDefinitions") or {}).get("artifacts"):
        return None
    values = {name: p.default for name, p in package.parameters.items() if p.default is not None}
    values.update(arguments)
    done: dict[str, StepEntry] = {}
    plan: list[PlannedTask] = []
    pending = dict(tasks)
    while pending:
        ready = [name for name, task in pending.items() if _upstream(task) <= done.keys()]
        if not ready:
            return None  # a reference to no task, or a cycle: let kfp say what is wrong
        for name in sorted(ready):
            task = pending.pop(name)
            entry = _cached_entry(spec, task, values, done, cache)
            if entry is None:
                return None
            done[name] = entry
            component = task["componentRef"]["name"]
            plan.append(PlannedTask(name, component.removeprefix("comp-"), entry))
    return plan


def _upstream(task: dict[str, Any]) -> set[str]:
    inputs = task.get("inputs") or {}
    names = set(task.get("dependentTasks") or [])
    for p in (inputs.get("parameters") or {}).values():
        names.add((p.get("taskOutputParameter") or {}).get("producerTask", ""))
    for a in (inputs.get("artifacts") or {}).values():
        names.add((a.get("taskOutputArtifact") or {}).get("producerTask", ""))
    names.discard("")
    return names


def _cached_entry(spec: dict[str, Any], task: dict[str, Any], values: dict[str, Any],
                  done: dict[str, StepEntry], cache: LocalCache) -> StepEntry | None:
    if set(task) - _PLAIN_TASK_KEYS or not caching_enabled(task):
        return None
    static = task_static(spec, (task.get("componentRef") or {}).get("name", ""))
    if static is None:
        return None
    inputs = task.get("inputs") or {}
    parameters: dict[str, Any] = {}
    artifacts: dict[str, list[dict[str, Any]]] = {}
    try:
        for name, p in (inputs.get("parameters") or {}).items():
            if set(p) - {"componentInputParameter", "runtimeValue", "taskOutputParameter"}:
                return None
            if "componentInputParameter" in p:
                if p["componentInputParameter"] not in values:
                    return None
                value = values[p["componentInputParameter"]]
            elif "runtimeValue" in p:
                value = (p["runtimeValue"] or {}).get("constant")
            elif "taskOutputParameter" in p:
                ref = p["taskOutputParameter"]
                produced = done[ref["producerTask"]].parameters
                if ref.get("outputParameterKey") not in produced:
                    return None
                value = produced[ref["outputParameterKey"]]
            else:
                return None
            parameters[name] = canonical(value)
        for name, a in (inputs.get("artifacts") or {}).items():
            ref = a.get("taskOutputArtifact")
            if set(a) != {"taskOutputArtifact"} or not ref:
                return None
            produced_artifacts = done[ref["producerTask"]].artifacts
            if ref.get("outputArtifactKey") not in produced_artifacts:
                return None
            artifacts[name] = produced_artifacts[ref["outputArtifactKey"]]
    except Uncacheable:
        return None
    return cache.lookup(cache.step_key(static, parameters, artifacts))


def pipeline_resource_name(pipeline_name: str) -> str:
    """The run folder's name as kfp.local makes it, so a cached run looks like a real one."""
    return f"{pipeline_name}-{datetime.datetime.now().strftime('%Y-%m-%d-%H-%M-%S-%f')}"


def restore_plan(package: PipelinePackage, plan: list[PlannedTask], cache: LocalCache,
                 run_folder: Path) -> tuple[list[str], dict[str, Any]] | None:
    """Copy every planned task's outputs into `run_folder`: the log lines and the pipeline's own
    outputs (as kfp.local returns them), or None if an entry turned out damaged or the outputs
    are of a shape not read here (the caller then runs kfp, which recomputes them)."""
    lines = []
    for planned in plan:
        if not cache.restore(planned.entry, run_folder / planned.folder):
            return None
        lines.append(f"Task {planned.task}: cached, outputs restored from {planned.entry.folder}")
    outputs = _pipeline_outputs(package.spec, {p.task: run_folder / p.folder for p in plan})
    return None if outputs is None else (lines, outputs)


def _pipeline_outputs(spec: dict[str, Any], folders: dict[str, Path]) -> dict[str, Any] | None:
    declared = (spec.get("root", {}).get("dag", {}) or {}).get("outputs") or {}
    result: dict[str, Any] = {}
    try:
        for name, out in (declared.get("artifacts") or {}).items():
            selectors = out.get("artifactSelectors") or []
            if set(out) != {"artifactSelectors"} or len(selectors) != 1:
                return None
            record = _record(folders[selectors[0]["producerSubtask"]])
            result[name] = record["artifacts"][selectors[0]["outputArtifactKey"]]["artifacts"][0]["uri"]
        for name, out in (declared.get("parameters") or {}).items():
            ref = out.get("valueFromParameter")
            if set(out) != {"valueFromParameter"} or not ref:
                return None
            result[name] = _record(folders[ref["producerSubtask"]])["parameterValues"][ref["outputParameterKey"]]
    except (KeyError, IndexError, TypeError, OSError, ValueError):
        return None
    return result


def _record(folder: Path) -> dict[str, Any]:
    return json.loads((folder / EXECUTOR_OUTPUT).read_text(encoding="utf-8"))
