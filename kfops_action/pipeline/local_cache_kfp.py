"""The step cache inside a kfp.local run: an unchanged task is restored instead of run.

Why a hook and not kfp.local's own `enable_caching`: kfp 2.17's cache keys input artifacts by
their path (new on every run, so nothing downstream of a changed run would ever hit), keeps
outputs where the earlier run left them (deleting that run's folder breaks the cache), and exists
in some kfp versions only. This wraps the one per-task entry point of kfp.local's orchestrators
(`task_executor.execute_single_task`) for the duration of a run, and keys each task exactly as
local_cache_plan.py does from the IR, so a later unchanged run can skip kfp altogether.
"""

from __future__ import annotations

import inspect
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .local_cache import LocalCache, Uncacheable, artifact_fingerprint, canonical
from .local_cache_plan import task_static
from .package import PipelinePackage


def fingerprint(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """kfp's resolved inputs (or a task's outputs) as the cache keys them: parameters by value,
    artifacts by content and metadata."""
    from kfp import dsl

    parameters: dict[str, Any] = {}
    artifacts: dict[str, list[dict[str, Any]]] = {}
    for name, value in values.items():
        items = value if isinstance(value, list) else [value]
        if items and all(isinstance(v, dsl.Artifact) for v in items):
            artifacts[name] = [artifact_fingerprint(v.uri, v.metadata) for v in items]
        else:
            parameters[name] = canonical(value)
    return parameters, artifacts


@contextmanager
def step_cache(package: PipelinePackage, cache: LocalCache) -> Iterator[None]:
    """While active, kfp.local restores cached tasks (LocalCache.restore marks their folders) and
    stores the outputs of the tasks it runs."""
    from kfp.local import executor_input_utils, executor_output_utils, logging_utils, status
    from kfp.local.orchestrator import task_executor
    from kfp.local.orchestrator.orchestrator_utils import OrchestratorUtils

    original = task_executor.execute_single_task
    signature = inspect.signature(original)

    def execute_single_task(*args: Any, **kwargs: Any) -> Any:
        call = signature.bind(*args, **kwargs).arguments
        task_spec = call["task_spec"]
        component_name = task_spec.component_ref.name
        static = task_static(package.spec, component_name)
        if static is None or not task_spec.caching_options.enable_cache:
            return original(*args, **kwargs)
        task_arguments = OrchestratorUtils.make_task_arguments(task_inputs_spec=task_spec.inputs,
                                                               io_store=call["io_store"])
        try:
            key = cache.step_key(static, *fingerprint(task_arguments))
        except Uncacheable:
            return original(*args, **kwargs)
        task_root = Path(executor_input_utils.construct_local_task_root(
            pipeline_root=call["pipeline_root"], pipeline_resource_name=call["pipeline_resource_name"],
            task_resource_name=executor_input_utils.get_local_task_resource_name(component_name)))
        entry = cache.lookup(key)
        if entry is not None and cache.restore(entry, task_root):
            component_spec = call["components"][component_name]
            executor_input = executor_input_utils.construct_executor_input(
                component_spec=component_spec, arguments=task_arguments, task_root=str(task_root),
                block_input_artifact=False)
            outputs = executor_output_utils.get_outputs_for_task(executor_input=executor_input,
                                                                 component_spec=component_spec)
            with logging_utils.local_logger_context():
                logging.info(f"Task {call['task_name']}: cached, outputs restored from {entry.folder}")
            return outputs, status.Status.SUCCESS
        outputs, task_status = original(*args, **kwargs)
        if task_status == status.Status.SUCCESS:
            try:
                produced = fingerprint(outputs)
            except Uncacheable:
                return outputs, task_status
            cache.store(key, task_root, *produced)
        return outputs, task_status

    task_executor.execute_single_task = execute_single_task
    try:
        yield
    finally:
        task_executor.execute_single_task = original
