"""The scalar metrics of one run, from wherever they can be read.

Remote runs: KFP's REST API does not return metric values, it keeps them in ML Metadata. So:
1. MLMD over grpc-web (what KFP's UI does): the run's context `system.PipelineRun` named after the
   run id, its executions and artifacts, the OUTPUT events linking them; the custom properties of
   every `system.Metrics` artifact are the metrics, keyed by the producing task.
2. When MLMD is not reachable (the route is not exposed, or refuses us): the metrics file
   convention of `fallback.py` (a JSON file the evaluation component writes), through a
   `RunFileReader` port.
3. Neither: an empty result whose notes say why, so the report can say so instead of nothing.

Local runs (`kfc build-run --local`): kfp.local's executor outputs, the same record the launcher
publishes to MLMD remotely, already read by pipeline.local_run.

Metric keys: the task name ("evaluate"), the same locally and remotely, so a local run compares with
a remote baseline. A task with several metrics outputs gets "task/output"; a task executed several
times (ParallelFor) gets "task#1", "task#2" in execution order. Only numbers are kept (MLMD stores
numbers as double_value; booleans as int 0/1); strings, lists and structs cannot be compared.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kfops_action.errors import KfopsError

from .mlmd_grpcweb import MlmdClient, MlmdError

RUN_CONTEXT_TYPE = "system.PipelineRun"
METRICS_TYPE = "system.Metrics"
DAG_EXECUTION_TYPE = "system.DAGExecution"
RESERVED_PROPERTIES = frozenset({"display_name", "store_session_info"})
OUTPUT_EVENT = 4  # ml_metadata.Event.Type.OUTPUT

Metrics = dict[str, dict[str, float]]
"""task key -> metric name -> value"""

RunFileReader = Callable[[str, str], "bytes | None"]
"""Port: (run_id, file name) -> the bytes of the metrics file that run wrote, or None if absent."""


@dataclass(frozen=True)
class RunMetrics:
    """A run's metrics and where they came from. `notes` say why a source was skipped."""

    run_id: str | None
    metrics: Metrics
    source: str  # "mlmd", "metrics-file", "local", or "none"
    notes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not any(self.metrics.values())


def numeric(value: Any) -> float | None:
    """The value as a float when it is a number (not a bool); else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def numeric_only(values: Mapping[str, Any]) -> dict[str, float]:
    return {str(k): v for k, v in ((k, numeric(x)) for k, x in values.items()) if v is not None}


# -- local runs -------------------------------------------------------------------------------


def local_run_metrics(result: Any, run_id: str | None = None) -> RunMetrics:
    """Metrics of a `pipeline.local_run.LocalRunResult` (its tasks' executor outputs)."""
    metrics: Metrics = {}
    for task in getattr(result, "tasks", []) or []:
        values = numeric_only(getattr(task, "metrics", {}) or {})
        if values:
            metrics[str(getattr(task, "key", "") or task.name)] = values  # KFP's task_name, as remotely
    if metrics:
        return RunMetrics(run_id, metrics, "local")
    return RunMetrics(run_id, {}, "none", ("the local run logged no metrics (no task has an "
                                           "Output[Metrics] with values)",))


# -- MLMD -------------------------------------------------------------------------------------


def _prop_number(value: Any) -> float | None:
    kind = value.WhichOneof("value")
    if kind == "double_value":
        return float(value.double_value)
    if kind == "int_value":
        return float(value.int_value)
    return None


def _task_name(execution: Any) -> str:
    props = execution.custom_properties
    for key in ("task_name", "display_name"):
        if key in props and props[key].WhichOneof("value") == "string_value" and \
                props[key].string_value:
            return str(props[key].string_value)
    return str(execution.name) or f"execution-{execution.id}"


def _output_name(event: Any) -> str:
    for step in event.path.steps:
        if step.WhichOneof("value") == "key":
            return str(step.key)
    return "metrics"


def mlmd_metrics(client: MlmdClient, run_id: str) -> Metrics | None:
    """The run's metrics from MLMD, the way KFP's UI reads them; None when MLMD has no such run."""
    context = client.run_context(RUN_CONTEXT_TYPE, run_id)
    if context is None:
        return None
    executions = {e.id: e for e in client.executions_by_context(context.id)}
    artifacts = {a.id: a for a in client.artifacts_by_context(context.id)}
    if any(not a.type for a in artifacts.values()):
        types = client.artifact_types()  # older servers leave the output-only `type` empty
        artifacts_type = {i: (a.type or types.get(a.type_id, "")) for i, a in artifacts.items()}
    else:
        artifacts_type = {i: a.type for i, a in artifacts.items()}
    wanted = {i for i, t in artifacts_type.items() if t == METRICS_TYPE}
    if not wanted:
        return {}
    events = client.events_by_execution_ids(executions) if executions else []

    # artifact id -> (execution, output name); a container execution wins over the DAG that
    # re-publishes the same artifact as its own output.
    producer: dict[int, tuple[Any, str]] = {}
    for event in sorted(events, key=lambda e: (e.execution_id, e.artifact_id)):
        if event.type != OUTPUT_EVENT or event.artifact_id not in wanted:
            continue
        execution = executions.get(event.execution_id)
        if execution is None:
            continue
        current = producer.get(event.artifact_id)
        if current is None or (current[0].type == DAG_EXECUTION_TYPE
                               and execution.type != DAG_EXECUTION_TYPE):
            producer[event.artifact_id] = (execution, _output_name(event))

    # task -> execution id -> output name -> values
    by_task: dict[str, dict[int, dict[str, dict[str, float]]]] = {}
    orphans: dict[str, dict[str, float]] = {}
    for artifact_id in sorted(wanted):
        artifact = artifacts[artifact_id]
        values = {k: v for k, v in ((k, _prop_number(p))
                                    for k, p in artifact.custom_properties.items()
                                    if k not in RESERVED_PROPERTIES) if v is not None}
        if artifact_id in producer:
            execution, output = producer[artifact_id]
            outputs = by_task.setdefault(_task_name(execution), {}).setdefault(execution.id, {})
            outputs.setdefault(output, {}).update(values)
        else:
            props = artifact.custom_properties
            name = props["display_name"].string_value if "display_name" in props else ""
            orphans[name or artifact.name or f"artifact-{artifact_id}"] = values
    return {**_keyed(by_task), **{k: v for k, v in orphans.items() if v}}


def _keyed(by_task: Mapping[str, Mapping[int, Mapping[str, dict[str, float]]]]) -> Metrics:
    out: Metrics = {}
    for task, runs in sorted(by_task.items()):
        for ordinal, exec_id in enumerate(sorted(runs), start=1):
            base = task if len(runs) == 1 else f"{task}#{ordinal}"
            outputs = runs[exec_id]
            for output, values in sorted(outputs.items()):
                if values:
                    out[base if len(outputs) == 1 else f"{base}/{output}"] = values
    return out


# -- the metrics file convention --------------------------------------------------------------


def metrics_from_document(data: Any, default_task: str = "metrics") -> Metrics:
    """Parse the fallback metrics file (see fallback.py for the convention).

    Either {"<task>": {"<metric>": number, ...}, ...} or a flat {"<metric>": number, ...}, filed
    under `default_task`. Mixed documents keep both. Anything but a JSON object is refused.
    """
    if not isinstance(data, Mapping):
        raise ValueError("the metrics file must hold a JSON object")
    out: Metrics = {}
    flat: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            values = numeric_only(value)
            if values:
                out[str(key)] = values
        elif (number := numeric(value)) is not None:
            flat[str(key)] = number
    if flat:
        out.setdefault(default_task, {}).update(flat)
    return out


def read_metrics_file(reader: RunFileReader, run_id: str,
                      file_name: str) -> tuple[Metrics | None, str]:
    """(metrics, "") or (None, why not): a missing or broken file is a reason, not an error."""
    try:
        raw = reader(run_id, file_name)
    except KfopsError as exc:
        return None, f"the metrics file {file_name} could not be read: {exc.what}"
    if raw is None:
        return None, f"the run wrote no metrics file {file_name}"
    try:
        return metrics_from_document(json.loads(raw.decode("utf-8"))), ""
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"the metrics file {file_name} is not valid: {exc}"


# -- remote runs ------------------------------------------------------------------------------


def read_run_metrics(run_id: str, *, mlmd: MlmdClient | None = None,
                     fallback: RunFileReader | None = None,
                     file_name: str = "kfops-metrics.json") -> RunMetrics:
    """The metrics of remote run `run_id`: MLMD first, then the metrics file, else none (with
    the reasons in `notes`). Never raises for an unreachable source: metrics decorate a report,
    they must not fail the command that produced the run."""
    notes: list[str] = []
    if mlmd is not None:
        try:
            found = mlmd_metrics(mlmd, run_id)
        except MlmdError as exc:
            notes.append(f"ML Metadata: {exc.what}")
        else:
            if found:
                return RunMetrics(run_id, found, "mlmd")
            notes.append("ML Metadata has no run " + run_id if found is None
                         else "ML Metadata holds no system.Metrics for this run")
    else:
        notes.append("ML Metadata is not configured (metrics.mlmd_endpoint: off)")
    if fallback is not None:
        from_file, why = read_metrics_file(fallback, run_id, file_name)
        if from_file:
            return RunMetrics(run_id, from_file, "metrics-file", tuple(notes))
        notes.append(why or f"the metrics file {file_name} holds no numbers")
    return RunMetrics(run_id, {}, "none", tuple(notes))
