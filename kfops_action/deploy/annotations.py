"""Provenance annotations: every object kfops writes points back to the PR, commit and run.

Someone looking at an InferenceService (or the deploy lock) with kubectl must be able to answer
"who put this here, from which pull request, which commit, which training run" without access to
the CI logs.

KServe copies InferenceService annotations into the Knative revision template, so changing one
creates a new revision. That is wanted here: `deployed-at` differs on every deploy, so each deploy
yields a new revision even when the model is unchanged, and readiness can always be tracked by the
revision name changing. The promote and rollback patches therefore never touch annotations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..errors import Problem
from .errors import DeployError

PREFIX = "kfops/"
PR = PREFIX + "pull-request"
COMMIT = PREFIX + "commit"
RUN_ID = PREFIX + "run-id"
ACTOR = PREFIX + "actor"
ENVIRONMENT = PREFIX + "environment"
WORKFLOW_RUN = PREFIX + "workflow-run"
REPOSITORY = PREFIX + "repository"
MODEL_URI = PREFIX + "model-uri"
DEPLOYED_AT = PREFIX + "deployed-at"
MANAGED_BY = "app.kubernetes.io/managed-by"

TAG_ROUTING = "serving.kserve.io/enable-tag-routing"

# provenance key -> annotation key; `pr`, `commit`, `run_id` and `actor` are required.
_KEYS = {"pr": PR, "commit": COMMIT, "run_id": RUN_ID, "actor": ACTOR,
         "repository": REPOSITORY, "workflow_run": WORKFLOW_RUN, "model_uri": MODEL_URI}
REQUIRED = ("pr", "commit", "run_id", "actor")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def provenance_annotations(provenance: Mapping[str, Any], *, environment: str,
                           now: datetime | None = None) -> dict[str, str]:
    """The annotations for `provenance` (pr, commit, run_id, actor, optionally repository,
    workflow_run, model_uri). Raises DeployError when a required one is missing: an object
    without its origin is exactly what this module exists to prevent."""
    problems = [Problem(f"provenance.{key} is missing") for key in REQUIRED
                if provenance.get(key) in (None, "")]
    out: dict[str, str] = {}
    for key, annotation in _KEYS.items():
        value = provenance.get(key)
        if value in (None, ""):
            continue
        text = str(value)
        if _CONTROL.search(text) or len(text) > 1024:
            problems.append(Problem(f"provenance.{key} must be one line of at most 1024 characters"))
            continue
        out[annotation] = text
    if problems:
        raise DeployError("cannot deploy without knowing where the model comes from", problems,
                          "the /deploy handler must pass pr, commit, run_id and actor", exit_code=2)
    out[ENVIRONMENT] = environment
    out[DEPLOYED_AT] = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def annotate(manifest: dict[str, Any], annotations: Mapping[str, str]) -> dict[str, Any]:
    """A copy of `manifest` with `annotations` added (ours win) and the managed-by label set."""
    import copy

    out = copy.deepcopy(manifest)
    metadata = out.setdefault("metadata", {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}
    metadata["labels"] = {**(metadata.get("labels") or {}), MANAGED_BY: "kfops"}
    return out


def provenance_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """Read back the provenance annotations of a live object (for reports and lock messages)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    back = {annotation: key for key, annotation in _KEYS.items()}
    back.update({ENVIRONMENT: "environment", DEPLOYED_AT: "deployed_at"})
    return {back[k]: v for k, v in annotations.items() if k in back}
