"""Does the user's pipeline output a model /deploy can find? Asked by `kfc init` before it writes a
deployment section.

A deployment section for a pipeline without a model output looks finished and fails only at the
first /deploy, after a full training run. The answer needs the compiled pipeline (component
outputs are only known once kfp has resolved the decorators), so the pipeline is compiled exactly
as `kfc doctor` compiles it: in a child process without credentials, into a temporary folder. When
it does not compile here (its dependencies are not installed yet), `kfc init` cannot tell and says
so rather than guessing.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..pipeline.outputs import MODEL_OUTPUT, MODEL_TYPE, OutputArtifact
from .detect import PipelineFunction


COMPILE_TIMEOUT = 120.0  # seconds: a pipeline whose import hangs must not hang `kfc init` for long


@dataclass(frozen=True)
class ModelOutputs:
    """What /deploy would take as the model (`models`), out of every output artifact (`outputs`).

    `error` is set (and both lists empty) when the pipeline did not compile here."""

    models: tuple[OutputArtifact, ...] = ()
    outputs: tuple[OutputArtifact, ...] = ()
    error: str | None = None

    @property
    def known(self) -> bool:
        return self.error is None

    @property
    def none(self) -> bool:
        """Compiled, and no output /deploy would take: a deployment section would never work."""
        return self.known and not self.models

    def describe_missing(self, pipeline: str) -> str:
        """`pipeline.py:train outputs no model (its outputs: ...)`: why there is no deployment section."""
        listed = ", ".join(str(o) for o in self.outputs) or "none"
        return (f"{pipeline} outputs no model: /deploy deploys an output artifact named {MODEL_OUTPUT!r} or of "
                f"type {MODEL_TYPE} (its output artifacts: {listed})")


def inspect(root: Path, pipeline: PipelineFunction) -> ModelOutputs:
    """Compile `pipeline` (relative to `root`) and list its model outputs under /deploy's default rule."""
    from ..errors import KfopsError
    from ..pipeline.isolated import compile_isolated
    from ..pipeline.outputs import model_outputs, output_artifacts

    try:
        with tempfile.TemporaryDirectory(prefix="kfops-init-") as tmp:
            package = compile_isolated(root / pipeline.file, pipeline.function, Path(tmp) / "pipeline.yaml",
                                       timeout=COMPILE_TIMEOUT)
    except KfopsError as exc:
        return ModelOutputs(error=" ".join(exc.what.split()))
    return ModelOutputs(tuple(model_outputs(package.spec)), tuple(output_artifacts(package.spec)))
