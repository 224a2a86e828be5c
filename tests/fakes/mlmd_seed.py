"""KFP-shaped MLMD records, described once as plain data, so the in-process fake and the real MLMD
store are seeded with the same runs (and a test can check the reader against both).

A seed is {"runs": [run, ...]}; a run is
    {"run_id": str, "pipeline": str, "tasks": [task, ...]}
and a task is
    {"name": str,
     "metrics": {output name: {metric: value}},   # system.Metrics artifacts (OUTPUT events)
     "executions": int (default 1; >1 is a ParallelFor: each execution gets its own artifact,
                        with "shard": i added),
     "model": bool (also output a system.Model artifact),
     "dag": bool (the task is a DAG execution that re-publishes the first metrics artifact)}

The layout follows kubeflow/pipelines backend/src/v2/metadata/client.go: a system.PipelineRun
context named after the run id (plus a system.Pipeline parent context), system.ContainerExecution
executions with custom properties display_name / task_name / pod_name, artifacts with
display_name and store_session_info custom properties, numbers as double_value, and OUTPUT events
whose path key is the output name.

Standard library only: the real store's server imports it from a venv without kfops.
"""

from __future__ import annotations

from typing import Any

RUN_CONTEXT = "system.PipelineRun"
PIPELINE_CONTEXT = "system.Pipeline"
CONTAINER = "system.ContainerExecution"
DAG = "system.DAGExecution"
METRICS = "system.Metrics"
MODEL = "system.Model"
SESSION = '{"Provider":"minio","Params":{"accessKeyKey":"accesskey"}}'


def records(seed: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten a seed into executions to publish, in order: each item is
    {"run_id", "pipeline", "task", "exec_type", "index", "outputs": [(output, type, values, uri)]}.
    """
    out: list[dict[str, Any]] = []
    for run in seed["runs"]:
        for task in run.get("tasks", []):
            count = int(task.get("executions", 1))
            for index in range(count):
                outputs = []
                for output, values in (task.get("metrics") or {}).items():
                    values = dict(values)
                    if count > 1:
                        values["shard"] = float(index)
                    outputs.append((output, METRICS, values,
                                    f"minio://mlpipeline/v2/artifacts/{run['run_id']}/"
                                    f"{task['name']}/{index}/{output}"))
                if task.get("model"):
                    outputs.append(("model", MODEL, {"framework": "x"},
                                    f"minio://mlpipeline/v2/artifacts/{run['run_id']}/"
                                    f"{task['name']}/model"))
                out.append({"run_id": run["run_id"], "pipeline": run.get("pipeline", "p"),
                            "task": task["name"], "exec_type": CONTAINER, "index": index,
                            "outputs": outputs})
            if task.get("dag") and task.get("metrics"):
                out.append({"run_id": run["run_id"], "pipeline": run.get("pipeline", "p"),
                            "task": run.get("pipeline", "p"), "exec_type": DAG, "index": 0,
                            "reuse": (task["name"], next(iter(task["metrics"]))), "outputs": []})
    return out
