"""Canary in Standard (RawDeployment) mode with KServe >= v0.20's `spec.canary` (kserve#5672).

Before v0.20 Standard mode had no canary at all (canaryTrafficPercent is silently ignored there,
kserve#5335), so kfops refused or replaced (mode.py). With `spec.canary` the new predictor runs
beside the stable one as its own Deployment/Service `{isvc}-{name}-predictor`:

1. write `spec.canary: [{predictor: <new predictor, name kfops-<short sha>>, trafficPercent: N}]`,
   leaving `spec.predictor` (the stable model) alone;
2. wait until `status.canaryStatuses` names it and `CanaryPredictorReady` is True;
3. run the endpoint check against the canary's own Service, for every step of the plan;
4. promote: the canary's predictor (with its name) becomes `spec.predictor` and `spec.canary` is
   removed in the same patch (KServe's documented promotion); or, on any failure, roll back by
   removing `spec.canary` (the stable predictor never stopped serving).

KServe's validation webhook rejects a canary unless the `serving.kserve.io/deploymentMode`
annotation says `Standard`, when the shares add up to more than 100, or when the canary predictor
has autoscaling fields or a workerSpec: the canary gets the predictor without its autoscaling
fields (KServe's defaults apply while it is a canary; the promoted predictor has them all), and a
predictor with a workerSpec is refused before anything is written.

`trafficPercent` is a weight only where KServe splits Standard-mode traffic (Gateway API HTTPRoute
weights, kserve PR #5912, after v0.20.0); with a plain Ingress the canary gets no user traffic and
the endpoint check is the whole test. The report says which share was *asked for*, not measured.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..errors import KfopsError, Problem
from . import mode as modes
from .endpoint_check import CheckTarget
from .errors import DeployError, LockLost
from .isvc import merge_patch
from .readiness import standard_canary_gone, standard_canary_ready, standard_ready

AUTOSCALING_FIELDS = ("minReplicas", "maxReplicas", "scaleTarget", "scaleMetric",
                      "scaleMetricType", "autoScaling")
PREFIX = "kfops-"


def canary_name(commit: str | None) -> str:
    """`kfops-<short sha>`: which commit the canary runs is visible in `kubectl get deploy`."""
    short = "".join(c for c in (commit or "").lower() if c in "0123456789abcdef")[:7]
    return PREFIX + (short or "canary")


def canary_predictor(predictor: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    """The predictor as KServe's webhook accepts it in `spec.canary` (see module docstring)."""
    if "workerSpec" in predictor:
        raise DeployError(f"the template's predictor has a workerSpec, which KServe does not "
                          f"allow in a Standard-mode canary (spec.canary), so kfops did not deploy "
                          f"to {where}", [Problem("nothing was changed in the cluster", where)],
                          "deploy multi-node predictors without a canary: set canary_percent: 100",
                          exit_code=2)
    out = {k: copy.deepcopy(v) for k, v in predictor.items()
           if k not in AUTOSCALING_FIELDS and k != "canaryTrafficPercent"}
    out["name"] = name
    return out


def service_url(isvc: str, name: str, namespace: str) -> str:
    """The canary's own Service `{isvc}-{name}-predictor` (kserve#5672), in-cluster."""
    return f"http://{isvc}-{name}-predictor.{namespace}.svc.cluster.local"


class StandardCanary:
    """Mixed into the rollout engine (rollout._Rollout): uses its steps, waits, check and report."""

    def canary_standard(self: Any, live: dict[str, Any]) -> Any:
        from .rollout import _Failed

        plan, result = self.plan, self.result
        name = self.canary_name
        if len(f"{self.name}-{name}-predictor") > 63:
            raise DeployError(f"the canary Service {self.name}-{name}-predictor would be longer "
                              "than Kubernetes' 63 characters",
                              [Problem("nothing was changed in the cluster", self.where)],
                              "use a shorter deployment.<env>.inference_service", exit_code=2)
        predictor = canary_predictor(self.desired["spec"]["predictor"], name, self.where)
        result.mode, result.strategy = modes.STANDARD, "canary"
        stable = ((live.get("spec") or {}).get("predictor") or {}).get("name")
        result.revision_before = stable or "the unnamed stable predictor"
        stripped = [k for k in AUTOSCALING_FIELDS if k in self.desired["spec"]["predictor"]]
        current_step = "canary"
        previous_spec = {k: copy.deepcopy(v) for k, v in (live.get("spec") or {}).items()
                         if k != "canary"}
        previous_annotations = dict((live.get("metadata") or {}).get("annotations") or {})
        self.promote_written = False
        try:
            for index, percent in enumerate(plan.steps):
                label = plan.label(index) if plan.multi else "canary"
                current_step = label
                with self.step(label) as s:
                    self.isvc.update(self.namespace, self.name,
                                     lambda current, p=percent: self._canary_patch(current,
                                                                                   predictor, p))
                    s.detail = (f"spec.canary: {name} at trafficPercent {percent}"
                                + (f"; without {', '.join(stripped)} while a canary (KServe's "
                                   "webhook refuses autoscaling fields there)"
                                   if stripped and index == 0 else ""))
                obj = self.wait(f"wait {label}" if plan.multi else "wait canary ready",
                                lambda o, p=percent: standard_canary_ready(o, name, p),
                                self.t.ready)
                result.revision_after = name
                self.run_check(obj, name, full_traffic=False, label=(
                    f"endpoint check at {percent}%" if plan.multi else "endpoint check"),
                    target=CheckTarget(self.name, self.namespace,
                                       service_url(self.name, name, self.namespace), name,
                                       f"the canary {name}"))
                if percent < 100:
                    result.canary_percent = percent
                result.canary_steps.append(percent)
                if index + 1 < len(plan.steps):
                    self.pause(plan.pause)
            self._promote_standard(live, name)
        except LockLost:
            raise
        except Exception as exc:
            why = exc.reason if isinstance(exc, _Failed) else (
                exc.what if isinstance(exc, KfopsError) else str(exc).splitlines()[0])
            where = exc.step if isinstance(exc, _Failed) else current_step
            at = f" at {current_step}" if plan.multi and not self.promote_written else ""
            if self.promote_written:
                # the new predictor is spec.predictor already: put the previous one back
                try:
                    self._restore_standard(previous_spec, previous_annotations)
                except KfopsError:
                    pass   # recorded in the step; the message says it was not confirmed
                state = ("rolled back: the previous spec.predictor was restored"
                         if result.rolled_back else "restoring the previous spec.predictor could "
                         "not be confirmed")
            else:
                self._rollback_standard(name)
                state = ("rolled back: spec.canary removed, the stable predictor serves as before"
                         if result.rolled_back else "the rollback could not be confirmed")
            raise self._fail(f"deploy to {self.environment} failed{at} ('{where}'): {why}; {state}",
                             [Problem(why, where)],
                             "fix the model and /deploy again" if result.rolled_back else
                             f"check the InferenceService by hand (kubectl get isvc -n "
                             f"{self.namespace} {self.name} -o yaml) before deploying again",
                             exc) from None
        result.succeeded = True
        shares = " -> ".join(f"{p}%" for p in result.canary_steps)
        checked = " and the endpoint check" if self.check else ""
        result.message = (f"the canary {name} passed {shares}{checked} (Standard mode, spec.canary), "
                          f"then was promoted to spec.predictor (previous: {result.revision_before})")
        return result

    def _canary_patch(self: Any, current: dict[str, Any], predictor: dict[str, Any],
                      percent: int) -> dict[str, Any]:
        patch: dict[str, Any] = {"spec": {"canary": [{"predictor": predictor,
                                                     "trafficPercent": percent}]}}
        annotations = (current.get("metadata") or {}).get("annotations") or {}
        if annotations.get(modes.MODE_ANNOTATION) != modes.STANDARD:
            # the webhook wants exactly "Standard"; RawDeployment/none is the same mode
            patch["metadata"] = {"annotations": {modes.MODE_ANNOTATION: modes.STANDARD}}
        return patch

    def _promote_standard(self: Any, live: dict[str, Any], name: str) -> None:
        promoted = copy.deepcopy(self.desired["spec"])
        promoted["predictor"]["name"] = name
        promoted.pop("canary", None)
        annotations = dict(self.desired["metadata"]["annotations"])
        annotations[modes.MODE_ANNOTATION] = modes.STANDARD

        def patch(current: dict[str, Any]) -> dict[str, Any]:
            return {"metadata": {"annotations": annotations,
                                 "labels": self.desired["metadata"]["labels"]},
                    "spec": merge_patch(current.get("spec") or {}, promoted)}

        with self.step("promote") as s:
            before, _ = self.isvc.update(self.namespace, self.name, patch)
            self.promote_written = True
            observed = (before.get("status") or {}).get("observedGeneration")
            s.detail = f"spec.predictor is now {name}; spec.canary removed"

        def promoted_ready(obj: dict[str, Any] | None) -> Any:
            gone = standard_canary_gone(obj, name)
            return gone if not gone.ready else standard_ready(
                obj, previous_observed=observed, must_change=True)

        obj = self.wait("wait promoted", promoted_ready, self.t.promote)
        self._observe(obj)

    def _rollback_standard(self: Any, name: str) -> None:
        self.roll_back(lambda current: ({"spec": {"canary": None}}
                                        if (current.get("spec") or {}).get("canary") else None),
                       f"removed spec.canary ({name})",
                       lambda o: standard_canary_gone(o, name))
