"""The output artifacts a compiled pipeline declares, and which of them /deploy would take as the model.

/deploy finds the model in a finished run (chatops/deploy_rules.model_candidates, then ML Metadata
in the deploy handler): with `deployment.<env>.model` the output named `output` (default `model`)
of `task` (any task when not set); without it every output named `model`, else the one artifact of
type system.Model. The same rule read from the compiled IR, before any run exists, lets `kfc init`
leave the deployment section out for a pipeline that outputs no model, and `kfc doctor` say that a
configured deployment will never find one, instead of the first /deploy saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MODEL_OUTPUT = "model"          # the output name /deploy looks for (chatops.deploy_rules uses it too)
MODEL_TYPE = "system.Model"     # the artifact type it falls back to


@dataclass(frozen=True)
class OutputArtifact:
    """One output artifact of one task, as KFP names them (task `train`, output `model`)."""

    task: str
    name: str
    type: str  # schema title, e.g. system.Model

    def __str__(self) -> str:
        return f"{self.task}/{self.name} ({self.type})"


def output_artifacts(spec: Mapping[str, Any]) -> list[OutputArtifact]:
    """Every task's output artifacts, nested pipelines included, in the IR's order."""
    components = spec.get("components") or {}
    found: list[OutputArtifact] = []

    def walk(dag: Mapping[str, Any]) -> None:
        for task_name, task in (dag.get("tasks") or {}).items():
            component = components.get((task.get("componentRef") or {}).get("name", ""), {})
            artifacts = (component.get("outputDefinitions") or {}).get("artifacts") or {}
            for name, artifact in artifacts.items():
                kind = str((artifact.get("artifactType") or {}).get("schemaTitle") or "")
                found.append(OutputArtifact(task_name, name, kind))
            if isinstance(component.get("dag"), Mapping):
                walk(component["dag"])

    walk((spec.get("root") or {}).get("dag") or {})
    return found


def model_outputs(spec: Mapping[str, Any], model: Mapping[str, Any] | None = None) -> list[OutputArtifact]:
    """The outputs /deploy would consider the model, under `deployment.<env>.model` (None: the default rule).

    An empty list means /deploy will find no model in any run of this pipeline; more than one
    (under the default rule) means it will refuse to pick, unless they are one artifact.
    """
    outputs = output_artifacts(spec)
    if model:
        task, name = model.get("task"), str(model.get("output") or MODEL_OUTPUT)
        return [o for o in outputs if o.name == name and (task is None or o.task == task)]
    named = [o for o in outputs if o.name == MODEL_OUTPUT]
    return named or [o for o in outputs if o.type == MODEL_TYPE]
