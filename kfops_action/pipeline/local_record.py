"""What a finished local run did, task by task, read from the compiled plan and kfp.local's folders.

kfp.local names a task's folder after its *component* and keeps no list of what it ran, so
reading the folders alone gives rows a user cannot place: five `square` rows for a ParallelFor,
`announce` where the pipeline said `announce-heads`, and nothing at all for a branch that was not
taken. Walking the IR alongside the folders gives each row the name the user wrote (and the one
Kubeflow's UI shows), its loop iteration, its enclosing pipeline when pipelines are nested, and a
"not run" row, with the reason, for tasks a condition or an empty loop skipped.

Layout read here (kfp 2.17's enhanced orchestrator): `<run>/<component>/executor_output.json` for
a task, `<run>/<loop task>-iteration-<i>/...` for each ParallelFor iteration; a nested pipeline's
tasks share their parent's folder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

METRIC_SCHEMAS = {"system.Metrics", "system.ClassificationMetrics", "system.SlicedClassificationMetrics"}
SUCCEEDED, NOT_RUN = "succeeded", "not run"
CACHED_MARKER = ".kfops-cached"  # in a task folder restored from the local step cache
# Group names the compiler makes up: not worth a path segment in a task's name.
_SYNTHETIC_GROUP = re.compile(r"^(condition-branches|condition|for-loop|exit-handler)-\d+$")
_ITERATION = re.compile(r"-iteration-(\d+)$")


@dataclass(frozen=True)
class TaskResult:
    name: str  # as the user named it: display name, `inner/` for a nested pipeline, `[i]` per iteration
    parameters: dict[str, Any]
    artifacts: dict[str, str]  # output name -> URI (a local path)
    metrics: dict[str, Any]
    state: str = SUCCEEDED
    reason: str = ""  # why a task did not run
    artifact_types: dict[str, str] = field(default_factory=dict)  # output name -> schema title
    # Metrics and ClassificationMetrics *are* their metadata (log_metric, log_confusion_matrix);
    # kfp.local writes no file for them, so the report shows this instead of their path.
    artifact_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    cached: bool = False  # restored from kfc's local step cache (local_cache.py) instead of run
    # The task's key in its DAG (+ `[i]` per iteration): what KFP records in ML Metadata as
    # `task_name`, so local metrics line up with a remote baseline's even under a display name.
    key: str = ""

    def shows_path(self, output: str) -> bool:
        """False for metrics: kfp.local writes no file for them, their values are the metadata."""
        return self.artifact_types.get(output) not in METRIC_SCHEMAS


def collect(spec: Mapping[str, Any], run_dir: Path) -> list[TaskResult]:
    """Every task of the plan that ran, then every one that did not.

    Ran: in the order the pipeline's top-level steps started, and within one step (a loop, a
    nested pipeline) by iteration, then in the order its tasks finished; iterations run in
    parallel, so finishing order alone would print `square[0]`, `square[2]`, `square[1]`.
    """
    components: Mapping[str, Any] = spec.get("components") or {}
    ran: list[tuple[str, tuple[int, ...], float, TaskResult]] = []
    skipped: list[TaskResult] = []
    top = [""]  # the top-level task being walked: its rows stay together

    def walk(dag: Mapping[str, Any], folder: Path, prefix: str, suffix: str, skip_reason: str) -> None:
        for task_name, task in (dag.get("tasks") or {}).items():
            if folder == run_dir and not prefix:
                top[0] = task_name
            component = components.get((task.get("componentRef") or {}).get("name", ""), {})
            shown = str((task.get("taskInfo") or {}).get("name") or task_name)
            reason = _condition_reason(task_name, shown, task) or skip_reason
            if isinstance(component.get("dag"), Mapping):
                inner = prefix if _SYNTHETIC_GROUP.match(task_name) else f"{prefix}{shown}/"
                if "parameterIterator" in task or "artifactIterator" in task:
                    iterations = sorted(((int(m.group(1)), p) for p in folder.glob(f"{task_name}-iteration-*")
                                         if (m := _ITERATION.search(p.name)) and p.is_dir()))
                    if not iterations:
                        _not_run(component["dag"], inner, suffix, reason or "its ParallelFor had no items")
                    for index, path in iterations:
                        walk(component["dag"], path, inner, f"{suffix}[{index}]", reason)
                else:
                    walk(component["dag"], folder, inner, suffix, reason)
                continue
            record = folder / str((task.get("componentRef") or {}).get("name", "")).removeprefix("comp-") \
                / "executor_output.json"
            result = _read(record, f"{prefix}{shown}{suffix}", component, f"{task_name}{suffix}")
            if result is not None:
                indices = tuple(int(i) for i in re.findall(r"\[(\d+)\]", suffix))
                ran.append((top[0], indices, record.stat().st_mtime, result))
            elif reason:
                skipped.append(TaskResult(f"{prefix}{shown}{suffix}", {}, {}, {}, NOT_RUN, reason))
            # else: a task kfp.local keeps no record of (an importer): nothing to show

    def _not_run(dag: Mapping[str, Any], prefix: str, suffix: str, reason: str) -> None:
        for task_name, task in (dag.get("tasks") or {}).items():
            component = components.get((task.get("componentRef") or {}).get("name", ""), {})
            shown = str((task.get("taskInfo") or {}).get("name") or task_name)
            if isinstance(component.get("dag"), Mapping):
                inner = prefix if _SYNTHETIC_GROUP.match(task_name) else f"{prefix}{shown}/"
                _not_run(component["dag"], inner, suffix, reason)
            else:
                skipped.append(TaskResult(f"{prefix}{shown}{suffix}", {}, {}, {}, NOT_RUN, reason))

    walk((spec.get("root") or {}).get("dag") or {}, run_dir, "", "", "")
    started = {group: min(t for g, _, t, _ in ran if g == group) for group, _, _, _ in ran}
    ran.sort(key=lambda row: (started[row[0]], row[1], row[2]))
    return [row[3] for row in ran] + skipped


def _condition_reason(task_name: str, shown: str, task: Mapping[str, Any]) -> str:
    if not (task.get("triggerPolicy") or {}).get("condition"):
        return ""
    named = "" if _SYNTHETIC_GROUP.match(shown) else f" '{shown}'"
    return f"its condition{named} was false"


def _read(record: Path, name: str, component: Mapping[str, Any], key: str) -> TaskResult | None:
    """One task's executor_output.json: the same record KFP keeps for a remote run."""
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    declared = (component.get("outputDefinitions") or {}).get("artifacts") or {}
    artifacts: dict[str, str] = {}
    metrics: dict[str, Any] = {}
    metadata_of: dict[str, dict[str, Any]] = {}
    types: dict[str, str] = {}
    written = data.get("artifacts") or {}
    # In the order the component declares them: the executor writes them in a protobuf map's order,
    # which changes from run to run, and two runs' reports should read alike.
    for out_name in sorted(written, key=lambda n: (list(declared).index(n) if n in declared else len(declared), n)):
        entry = written[out_name]
        schema = str(((declared.get(out_name) or {}).get("artifactType") or {}).get("schemaTitle") or "")
        for art in entry.get("artifacts", []):
            artifacts[out_name] = art.get("uri", "")
            types[out_name] = schema
            metadata = art.get("metadata") or {}
            if schema in METRIC_SCHEMAS:
                metrics.update(metadata)
            if metadata:
                metadata_of[out_name] = dict(metadata)
    return TaskResult(name, dict(data.get("parameterValues") or {}), artifacts, metrics,
                      artifact_types=types, artifact_metadata=metadata_of,
                      cached=(record.parent / CACHED_MARKER).is_file(), key=key)


def pipeline_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline's own outputs (what its function returns) as values and artifact paths."""
    result: dict[str, Any] = {}
    for name, value in outputs.items():
        uri = getattr(value, "uri", None)
        result[name] = uri if isinstance(uri, str) else value
    return result
