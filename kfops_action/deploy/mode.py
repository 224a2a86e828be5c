"""KServe deployment mode: Knative (Serverless) can split traffic, Standard (RawDeployment) cannot.

KServe silently ignores `canaryTrafficPercent` in RawDeployment/Standard mode (kserve#5335,
kserve#4074): setting it there gives a full rollout with no error. kfops must therefore know the
mode before it writes anything, and never report a canary that did not happen.

Detection follows KServe's own precedence (`GetDeploymentMode`): `status.deploymentMode` (what the
controller resolved), then the `serving.kserve.io/deploymentMode` annotation, then, for objects
whose controller predates `status.deploymentMode`, the shape of the status (only Knative mode
reports revisions and traffic). Names changed in v0.16 (Serverless -> Knative, RawDeployment ->
Standard); both spellings are accepted.

In Standard mode, a KServe whose CRD has `spec.canary` (v0.20, kserve#5672) gets a real canary
(standard_canary.py). Without it, what to do is `deployment.<env>.raw_deployment`:
- `refuse` (default): stop before touching anything and say why;
- `replace`: deploy the new model as a separate candidate InferenceService, run the endpoint check
  on it, and only then replace the real one (100%, no canary, and the report says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Problem
from .errors import ModeRefused

KNATIVE, STANDARD, MODELMESH = "Knative", "Standard", "ModelMesh"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
POLICIES = ("refuse", "replace")
_ALIASES = {"serverless": KNATIVE, "knative": KNATIVE, "rawdeployment": STANDARD,
            "standard": STANDARD, "modelmesh": MODELMESH}


@dataclass(frozen=True)
class Mode:
    """A detected mode and where it was read, for the report ("from status.deploymentMode")."""

    name: str | None      # Knative, Standard, ModelMesh, or None when nothing says
    source: str
    raw: str | None = None

    @property
    def standard(self) -> bool:
        return self.name == STANDARD


def normalise(value: Any) -> str | None:
    """Knative, Standard or ModelMesh for any spelling KServe accepts; None for anything else."""
    return _ALIASES.get(str(value).strip().lower()) if value else None


def annotation_mode(obj: dict[str, Any] | None) -> str | None:
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get(MODE_ANNOTATION)


def detect(live: dict[str, Any] | None, manifest: dict[str, Any] | None = None) -> Mode:
    """The mode of the live InferenceService, else of the manifest about to be created."""
    status = (live or {}).get("status") or {}
    if status.get("deploymentMode"):
        raw = status["deploymentMode"]
        return Mode(normalise(raw), "status.deploymentMode", raw)
    raw = annotation_mode(live)
    if raw:
        return Mode(normalise(raw), f"annotation {MODE_ANNOTATION}", raw)
    predictor = (status.get("components") or {}).get("predictor") or {}
    if predictor.get("traffic") or predictor.get("latestCreatedRevision"):
        return Mode(KNATIVE, "status (revisions and traffic are reported only in Knative mode)")
    raw = annotation_mode(manifest)
    if raw:
        return Mode(normalise(raw), f"annotation {MODE_ANNOTATION} in the template", raw)
    return Mode(None, "nothing (the cluster default applies: Knative/Serverless on a stock install)")


def check_compatible(live_mode: Mode, manifest: dict[str, Any], where: str) -> None:
    """Refuse a template that asks for another mode than the live object has: KServe's webhook
    rejects changing it ("deploymentMode cannot be changed"), and without the webhook the change
    would be ignored while the report claimed otherwise."""
    wanted_raw = annotation_mode(manifest)
    wanted = normalise(wanted_raw)
    if wanted and live_mode.name and wanted != live_mode.name:
        raise ModeRefused(
            f"the template asks for deploymentMode {wanted_raw} but {where} runs in "
            f"{live_mode.name} mode ({live_mode.source})",
            [Problem("KServe does not allow changing the deployment mode of an existing "
                     "InferenceService", where)],
            f"remove or fix the {MODE_ANNOTATION} annotation in the template, or delete the "
            "InferenceService to recreate it in the other mode (an outage)", exit_code=2)


def refuse_canary(mode: Mode, where: str, environment: str,
                  no_spec_canary: str | None = None) -> ModeRefused:
    """The error for a canary asked of a Standard/RawDeployment InferenceService whose KServe has
    no `spec.canary` (before v0.20; `no_spec_canary` says how kfops found out)."""
    problems = [Problem("nothing was changed in the cluster", where)]
    if no_spec_canary:
        problems.append(Problem(f"no Standard-mode canary either: {no_spec_canary}; KServe "
                                "v0.20 added spec.canary (kserve#5672), which kfops uses when the "
                                "CRD has it", "CustomResourceDefinition"))
    return ModeRefused(
        f"{where} runs in {mode.raw or mode.name} mode ({mode.source}), where KServe ignores "
        "canaryTrafficPercent: a canary would silently be a full rollout, so kfops did not deploy",
        problems,
        f"set deployment.{environment}.raw_deployment: replace in kfops.yaml (kfops then checks the "
        "model on a separate candidate InferenceService and replaces the real one at 100%, with no "
        "canary), upgrade KServe to v0.20 or later (its CRD with spec.canary), or run the "
        "InferenceService in Knative/Serverless mode", exit_code=2)


def refuse_modelmesh(where: str) -> ModeRefused:
    return ModeRefused(f"{where} runs in ModelMesh mode, which kfops cannot roll out",
                       [Problem("nothing was changed in the cluster", where)],
                       "deploy to a Knative/Serverless (or Standard) InferenceService", exit_code=2)
