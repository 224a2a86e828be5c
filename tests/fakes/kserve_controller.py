"""A stand-in for KServe's InferenceService controller, writing the status the real one would.

No KServe runs beside the test API server, so this plays its part, following the KServe sources
summarised in ../shared/notes/kserve-canary-and-action-packaging.md (PART 1):

- Knative mode: every change of the revision template (the predictor spec without
  canaryTrafficPercent, plus the ISVC's annotations) creates a revision `<isvc>-predictor-0000N`.
  Traffic is built as `ksvc_reconciler.go` does: a split only when canaryTrafficPercent is set AND
  a revision was rolled out before (latest=canary%, `prev`=rest on latestRolledoutRevision, `prev`
  always tagged, `latest` tagged only with enable-tag-routing); otherwise one latest target at 100%.
  `latestRevision: true` resolves to the latest *ready* revision (Knative), so an unready canary
  gets nothing. latestRolledoutRevision / previousRolledoutRevision move as `PropagateStatus` does,
  including the rollback branch (a split over the same revision falls back to the previous one,
  which makes `canaryTrafficPercent: 0` after a promotion take two passes).
- observedGeneration is the child's (a ksvc generation counter), NOT the ISVC's generation: code
  that trusts it would be wrong against the real controller too (kserve#6081).
- Standard mode (annotation serving.kserve.io/deploymentMode: RawDeployment/Standard): no
  revisions, no traffic; Ready, URL and the Deployment's generation as observedGeneration.
- Standard-mode canary (KServe v0.20, kserve#5672, notes 1.7), only as far as the note describes:
  each `spec.canary[]` entry (its own Deployment `{isvc}-{name}-predictor`) is listed in
  `status.canaryStatuses[]` and summed up in the `CanaryPredictorReady` condition; top-level Ready
  stays PredictorReady + IngressReady. The entry's fields beyond the canary's `name` are not in the
  note, so the fake writes only `name` (an assumption, kept minimal on purpose). No traffic is
  reported (v0.20 weights nothing with a plain Ingress). What KServe's validation webhook would
  reject (`validateCanarySpecs`: no `deploymentMode: Standard` annotation, a missing or duplicate
  name, shares over 100, autoscaling fields, workerSpec) is recorded in `errors`, which the
  fixtures assert empty: the engine is held to the webhook's rules. Promotion (spec.predictor
  named after the canary, spec.canary gone) is just a new stable spec.

Revisions are ready by default; a test scripts `revision_state[<revision>] = "pending" | "failed"`
(or `default_state`), `standard_state[<isvc>]` and `canary_state[<canary name>]` ("ready" |
"pending"). Run it in a background thread (`with FakeKServe(...)`) or call `settle()`.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from typing import Any

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
TAG_ROUTING = "serving.kserve.io/enable-tag-routing"
MODE = "serving.kserve.io/deploymentMode"
CANARY_AUTOSCALING = ("minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "scaleMetricType",
                      "autoScaling")


def default_urls(tag: str | None, revision: str | None, isvc: str, namespace: str) -> str:
    host = f"{isvc}-predictor" if revision else isvc
    return f"http://{tag + '-' if tag else ''}{host}.{namespace}.example.com"


class FakeKServe:
    def __init__(self, api_client: Any, namespace: str, *, interval: float = 0.03,
                 url_for: Callable[[str | None, str | None, str, str], str] = default_urls,
                 mode_name: str = "Serverless") -> None:
        from kubernetes import client

        self.custom = client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.interval = interval
        self.url_for = url_for
        self.mode_name = mode_name          # what status.deploymentMode says in Knative mode
        self.default_state = "ready"
        self.revision_state: dict[str, str] = {}
        self.standard_state: dict[str, str] = {}   # isvc (or spec.predictor.name) -> "ready" | "pending"
        self.canary_state: dict[str, str] = {}     # spec.canary[].predictor.name -> same
        self.canary_writes: list[list[dict[str, Any]]] = []   # every distinct spec.canary seen
        self.errors: list[str] = []
        self.writes = 0
        self._revisions: dict[str, list[tuple[str, str]]] = {}   # uid -> [(revision, template)]
        self._ksvc: dict[str, tuple[int, str]] = {}              # uid -> (generation, desired)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    # -- driving -------------------------------------------------------------------------
    def __enter__(self) -> FakeKServe:
        self._thread = threading.Thread(target=self._loop, name="fake-kserve", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile_all()
            except Exception as exc:  # recorded; the test asserts there were none
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.interval)

    def settle(self, passes: int = 3) -> None:
        for _ in range(passes):
            self.reconcile_all()

    def reconcile_all(self) -> None:
        with self._mutex:
            items = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                              PLURAL)["items"]
            for obj in items:
                self._reconcile(obj)

    def revisions(self, isvc: dict[str, Any]) -> list[str]:
        return [name for name, _ in self._revisions.get(isvc["metadata"]["uid"], [])]

    # -- one pass ------------------------------------------------------------------------
    def _reconcile(self, obj: dict[str, Any]) -> None:
        if obj["metadata"].get("deletionTimestamp"):
            return
        annotations = obj["metadata"].get("annotations") or {}
        mode = str(annotations.get(MODE, "")).lower()
        if mode in ("rawdeployment", "standard"):
            status = self._standard(obj, annotations[MODE])
        else:
            status = self._knative(obj, annotations)
        if status != obj.get("status"):
            obj["status"] = status
            from kubernetes.client.rest import ApiException

            try:
                self.custom.replace_namespaced_custom_object_status(
                    GROUP, VERSION, self.namespace, PLURAL, obj["metadata"]["name"], obj)
                self.writes += 1
            except ApiException as exc:
                if exc.status not in (404, 409):   # raced with a spec write: next pass
                    raise

    def _knative(self, obj: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
        name, uid = obj["metadata"]["name"], obj["metadata"]["uid"]
        predictor = copy.deepcopy((obj.get("spec") or {}).get("predictor") or {})
        canary = predictor.pop("canaryTrafficPercent", None)
        template = json.dumps({"predictor": predictor, "annotations": annotations}, sort_keys=True)
        revisions = self._revisions.setdefault(uid, [])
        if not revisions or revisions[-1][1] != template:
            revisions.append((f"{name}-predictor-{len(revisions) + 1:05d}", template))
        created = revisions[-1][0]
        ready = [r for r, _ in revisions if self._state(r) == "ready"]
        latest_ready = ready[-1] if ready else None

        old = ((obj.get("status") or {}).get("components") or {}).get("predictor") or {}
        rolled_out = old.get("latestRolledoutRevision")
        previous_rolled_out = old.get("previousRolledoutRevision")
        tag_routing = annotations.get(TAG_ROUTING) == "true"

        # ksvc_reconciler.go: the desired ksvc traffic
        latest_target: dict[str, Any] = {"latestRevision": True}
        if tag_routing:
            latest_target["tag"] = "latest"
        if canary is not None and rolled_out:
            targets = [dict(latest_target, percent=int(canary))]
            if int(canary) < 100:
                targets.append({"revisionName": rolled_out, "latestRevision": False,
                                "percent": 100 - int(canary), "tag": "prev"})
        else:
            targets = [dict(latest_target, percent=100)]
        desired = json.dumps([template, targets], sort_keys=True)
        generation, last = self._ksvc.get(uid, (0, ""))
        if desired != last:
            generation += 1
            self._ksvc[uid] = (generation, desired)

        # Knative route status: latestRevision resolves to the latest READY revision
        resolved: list[dict[str, Any]] = []
        if latest_ready:
            for target in targets:
                entry = dict(target)
                entry["revisionName"] = latest_ready if target["latestRevision"] else target["revisionName"]
                if entry.get("tag"):
                    entry["url"] = self.url_for(entry["tag"], entry["revisionName"], name,
                                                self.namespace)
                resolved.append(entry)

        # inference_service_status.go PropagateStatus: rolled-out bookkeeping
        latest_entry = next((e for e in resolved if e["latestRevision"]), None)
        if latest_entry and latest_entry["revisionName"] == latest_ready \
                and latest_entry["percent"] == 100 and latest_ready != rolled_out:
            previous_rolled_out, rolled_out = rolled_out, latest_ready
        elif (latest_entry and rolled_out and rolled_out == latest_ready == created
              and latest_entry["percent"] < 100
              and sum(e["percent"] for e in resolved if e["revisionName"] == rolled_out) == 100):
            rolled_out = previous_rolled_out

        state = self._state(created)
        config = {"ready": ("True", None, None), "pending": ("Unknown", "Deploying", None),
                  "failed": ("False", "RevisionFailed",
                             f'Revision "{created}" failed with message: container exited')}[state]
        routes = ("True", None, None) if resolved else ("Unknown", "TrafficNotAssigned", None)
        ksvc_ready = config if config[0] != "True" else routes
        ingress = ("True", None, None) if ksvc_ready[0] == "True" else \
            ("False", "PredictorIngressNotCreated", "Predictor ingress not created")
        overall = ksvc_ready if ksvc_ready[0] != "True" else ingress
        conditions = [_cond("IngressReady", ingress), _cond("LatestDeploymentReady", config),
                      _cond("PredictorConfigurationReady", config), _cond("PredictorReady", ksvc_ready),
                      _cond("PredictorRouteReady", routes), _cond("Ready", overall),
                      _cond("RoutesReady", routes)]
        component: dict[str, Any] = {"latestCreatedRevision": created, "traffic": resolved,
                                     "url": self.url_for(None, "predictor", name, self.namespace)}
        if latest_ready:
            component["latestReadyRevision"] = latest_ready
        if rolled_out:
            component["latestRolledoutRevision"] = rolled_out
        if previous_rolled_out:
            component["previousRolledoutRevision"] = previous_rolled_out
        url = self.url_for(None, None, name, self.namespace)
        return {"observedGeneration": generation, "deploymentMode": self.mode_name, "url": url,
                "address": {"url": url}, "conditions": conditions,
                "components": {"predictor": component}}

    def _standard(self, obj: dict[str, Any], mode_raw: str) -> dict[str, Any]:
        name, uid = obj["metadata"]["name"], obj["metadata"]["uid"]
        stable = {k: v for k, v in (obj.get("spec") or {}).items() if k != "canary"}
        template = json.dumps([stable, obj["metadata"].get("annotations")], sort_keys=True)
        generation, last = self._ksvc.get(uid, (0, ""))
        if template != last:
            generation += 1
            self._ksvc[uid] = (generation, template)
        predictor_name = ((obj.get("spec") or {}).get("predictor") or {}).get("name")
        ready = self.standard_state.get(predictor_name or name,
                                        self.standard_state.get(name, "ready")) == "ready"
        value = ("True", None, None) if ready else ("False", "MinimumReplicasUnavailable",
                                                    "Deployment does not have minimum availability.")
        url = self.url_for(None, None, name, self.namespace)
        conditions = [_cond("IngressReady", value), _cond("PredictorReady", value),
                      _cond("Ready", value)]
        status: dict[str, Any] = {"observedGeneration": generation, "deploymentMode": mode_raw,
                                  "url": url, "address": {"url": url}, "conditions": conditions,
                                  "components": {"predictor": {"url": url}}}
        canaries = [c for c in (obj.get("spec") or {}).get("canary") or [] if isinstance(c, dict)]
        if canaries:
            if not self.canary_writes or self.canary_writes[-1] != canaries:
                self.canary_writes.append(copy.deepcopy(canaries))
            self._webhook(obj, canaries)
            names = [(c.get("predictor") or {}).get("name") for c in canaries]
            pending = [n for n in names if self.canary_state.get(str(n), "ready") != "ready"]
            status["canaryStatuses"] = [{"name": n} for n in names]
            conditions.append(_cond("CanaryPredictorReady", ("True", None, None) if not pending else
                                    ("False", "MinimumReplicasUnavailable",
                                     f"canary {pending[0]}: Deployment does not have minimum "
                                     "availability.")))
            conditions.sort(key=lambda c: c["type"])
        return status

    def _webhook(self, obj: dict[str, Any], canaries: list[dict[str, Any]]) -> None:
        """What `validateCanarySpecs` would have refused (recorded once per distinct spec)."""
        annotations = obj["metadata"].get("annotations") or {}
        problems = []
        if annotations.get(MODE) != "Standard":
            problems.append(f"spec.canary needs {MODE}: Standard, got {annotations.get(MODE)!r}")
        names = [(c.get("predictor") or {}).get("name") for c in canaries]
        if not all(names) or len(set(names)) != len(names):
            problems.append(f"canary names must be set and unique: {names}")
        if sum(int(c.get("trafficPercent") or 0) for c in canaries) > 100:
            problems.append("canary trafficPercent sum over 100")
        for c in canaries:
            predictor = c.get("predictor") or {}
            bad = [k for k in (*CANARY_AUTOSCALING, "workerSpec") if k in predictor]
            if bad:
                problems.append(f"canary {predictor.get('name')} has {bad}")
            if not 0 <= int(c.get("trafficPercent") or 0) <= 100:
                problems.append(f"canary {predictor.get('name')} trafficPercent out of 0..100")
        for problem in problems:
            message = f"webhook would reject {obj['metadata']['name']}: {problem}"
            if message not in self.errors:
                self.errors.append(message)

    def _state(self, revision: str) -> str:
        return self.revision_state.get(revision, self.default_state)


def _cond(kind: str, value: tuple[str, str | None, str | None]) -> dict[str, Any]:
    status, reason, message = value
    c: dict[str, Any] = {"type": kind, "status": status}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
