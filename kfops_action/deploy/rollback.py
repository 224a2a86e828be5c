"""/rollback and /undeploy against the cluster: put the previous model back, or remove staging's.

Rollback is KServe's own documented one: `canaryTrafficPercent: 0` on the predictor, the rest of
the spec untouched, pins all traffic to the revision rolled out before the current one
(`status.components.predictor.previousRolledoutRevision`). After a promotion it takes KServe two
reconcile passes (the split first lands on the same revision, then `latestRolledoutRevision` falls
back to the previous one), so the wait is for 100% on that previous revision, bounded by
`deployment.<env>.timeouts.rollback`. Annotations are not touched: changing one would create a
new revision, which is exactly what must not happen here. The rolled-back release therefore
stays in the spec at 0% (its annotations still name it), and the next /deploy replaces it; the
deploy Lease records who rolled back what (its annotations outlive the job, like a deploy's).

KServe remembers one release back, so a second /rollback in a row is refused rather than being
a silent no-op: to go further back, /deploy the older pull request's model again. That differs
from github/branch-deploy, whose rollback deploys the stable branch: kfops has no "stable
branch build" of a model, only what KServe served before.

Undeploy (staging only) deletes the InferenceService and waits until it is gone.
Both take the environment's deploy Lease (lock.py) like a deploy, so neither races one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any

from ..errors import Problem
from . import mode as modes
from .annotations import provenance_of
from .errors import DeployError
from .isvc import IsvcApi, predictor_status
from .kube import Kube
from .lock import DeployLock
from .readiness import serving_only, traffic, wait_for
from .result import DeployResult, Step, timed_step
from .rollout import Timeouts, lock_released


class NothingToDo(DeployError):
    """The command cannot apply to what the cluster holds (nothing deployed, nothing to go back
    to, already rolled back): a refusal, nothing was changed."""


class _Engine:
    def __init__(self, kube: Any, environment: str, settings: Mapping[str, Any], *, lock_annotations: Mapping[str, str],
                 timeouts: Timeouts | None, clock: Callable[[], float], sleep: Callable[[float], None],
                 now: Callable[[], datetime], on_step: Callable[[Step], None] | None) -> None:
        self.api = kube if isinstance(kube, Kube) else Kube(kube)
        self.isvc = IsvcApi(self.api)
        self.environment = environment
        self.name, self.namespace = str(settings["inference_service"]), str(settings["namespace"])
        self.t = timeouts or Timeouts.from_settings(settings)
        self.clock, self.sleep, self.on_step = clock, sleep, on_step
        self.where = f"InferenceService {self.namespace}/{self.name}"
        self.result = DeployResult(environment, self.name, self.namespace)
        self.lock = DeployLock(self.api, self.namespace, self.name, annotations=lock_annotations,
                               environment=environment, duration=self.t.lock_duration, wait=self.t.lock_wait,
                               poll_interval=max(self.t.poll, 0.01), clock=clock, sleep=sleep, now=now)
        self.released: dict[str, str] = {}   # provenance of the release rolled back / removed

    def step(self, name: str) -> AbstractContextManager[Step]:
        return timed_step(self.result, name, self.clock, self.on_step)

    def read_live(self, what: str) -> dict[str, Any]:
        """The InferenceService, or NothingToDo when there is none (nothing to roll back / undeploy)."""
        with self.step("read") as s:
            live = self.isvc.get(self.namespace, self.name)
            s.detail = "not found" if live is None else "exists"
        if live is None:
            raise self.nothing(f"nothing to {what}: {self.where} does not exist",
                               f"nothing is deployed to {self.environment}")
        self.released = provenance_of(live)
        return live

    def locked(self, work: Callable[[], DeployResult]) -> DeployResult:
        try:
            with self.step("lock") as s:
                self.lock.acquire()
                s.detail = f"Lease {self.namespace}/{self.lock.name}"
            with lock_released(self.lock):
                return work()
        except DeployError as error:
            if error.result is None:
                self.result.message = self.result.message or error.what
                error.result = self.result
            raise

    def nothing(self, what: str, fix: str) -> NothingToDo:
        self.result.message = what
        return NothingToDo(what, [Problem(f"serving now: {self.result.serving}", self.where)], fix,
                           result=self.result)

    # -- rollback --------------------------------------------------------------------------------
    def rollback(self) -> DeployResult:
        self.result.strategy = "rollback"
        live = self.read_live("roll back")
        self.result.traffic, self.result.url = traffic(live), ((live.get("status") or {}).get("url"))
        mode = modes.detect(live)
        self.result.mode = mode.name or "unknown"
        if mode.standard or mode.name == modes.MODELMESH:
            raise self.nothing(f"{self.where} runs in {mode.name} mode, which keeps no earlier revision to "
                               "roll back to", f"deploy the earlier model again: comment `/deploy` on the pull "
                                               "request that released it (or re-run its training)")
        predictor = predictor_status(live)
        current, previous = predictor.get("latestRolledoutRevision"), predictor.get("previousRolledoutRevision")
        self.result.revision_before = current
        pinned = ((live.get("spec") or {}).get("predictor") or {}).get("canaryTrafficPercent")
        if pinned == 0:
            raise self.nothing(f"{self.environment} is already rolled back (canaryTrafficPercent: 0 pins "
                               f"{current or 'the previous revision'}); KServe keeps only one release back",
                               "to go further back, comment `/deploy` on the pull request whose model should "
                               "serve; the next /deploy replaces the rolled-back release")
        if pinned is not None:
            raise self.nothing(f"a canary is in progress on {self.where} (canaryTrafficPercent: {pinned})",
                               "wait for that deploy to finish (it rolls back by itself when it fails)")
        if not previous or previous == current:
            raise self.nothing(f"KServe records no release before {current or 'the current one'} on "
                               f"{self.where} (status.components.predictor.previousRolledoutRevision is empty)",
                               "nothing earlier was rolled out to 100% here: to change what serves, /deploy "
                               "another pull request's model")
        self.result.revision_after = previous
        with self.step("rollback") as s:
            self.isvc.update(self.namespace, self.name,
                             lambda _: {"spec": {"predictor": {"canaryTrafficPercent": 0}}})
            s.detail = f"canaryTrafficPercent: 0 (all traffic back to {previous})"
        with self.step("wait rolled back") as s:
            verdict, obj = wait_for(lambda: self.isvc.get(self.namespace, self.name),
                                    lambda o: serving_only(o, previous, rolled_out=False),
                                    timeout=self.t.rollback, poll_interval=self.t.poll, clock=self.clock,
                                    sleep=self.sleep, on_tick=self.lock.renew)
            s.detail = verdict.reason
            self.result.traffic = traffic(obj)
            if not verdict.ready:
                s.ok = False
                self.result.message = (f"the rollback of {self.environment} to {previous} was written but not "
                                       f"confirmed: {verdict.reason}")
                raise DeployError(self.result.message, [Problem(f"serving now: {self.result.serving}", self.where)],
                                  f"check it by hand: kubectl get isvc -n {self.namespace} {self.name}",
                                  result=self.result)
        self.result.url = ((obj or {}).get("status") or {}).get("url") or self.result.url
        self.result.succeeded = self.result.rolled_back = True
        self.result.message = f"{previous} serves 100% again; {current} keeps 0% (canaryTrafficPercent: 0)"
        return self.result

    # -- undeploy --------------------------------------------------------------------------------
    def undeploy(self) -> DeployResult:
        self.result.strategy = "undeploy"
        live = self.read_live("undeploy")
        self.result.traffic = traffic(live)
        self.result.revision_before = predictor_status(live).get("latestRolledoutRevision")
        with self.step("delete") as s:
            self.isvc.delete(self.namespace, self.name)
            s.detail = f"deleted {self.where}"
        with self.step("wait deleted") as s:
            deadline = self.clock() + self.t.rollback
            while self.isvc.get(self.namespace, self.name) is not None:
                if self.clock() >= deadline:
                    s.ok = False
                    s.detail = f"still being deleted after {self.t.rollback:g} s"
                    raise DeployError(f"{self.where} was asked to go but is still there",
                                      fix=f"check its finalizers: kubectl get isvc -n {self.namespace} {self.name} "
                                          "-o yaml", result=self.result)
                self.lock.renew()
                self.sleep(self.t.poll)
            s.detail = "gone"
        self.result.traffic, self.result.url = [], None
        self.result.succeeded = True
        self.result.message = f"{self.where} was deleted: {self.environment} serves nothing now"
        return self.result


def rollback(kube: Any, *, environment: str, settings: Mapping[str, Any], lock_annotations: Mapping[str, str],
             timeouts: Timeouts | None = None, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep,
             now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
             on_step: Callable[[Step], None] | None = None) -> tuple[DeployResult, dict[str, str]]:
    """Pin `environment` back to its previous release. Returns the result and the provenance
    annotations of the release rolled back (its PR, run, commit: where the report goes). Raises
    NothingToDo (a refusal, nothing changed) or another DeployError (with `.result`)."""
    engine = _Engine(kube, environment, settings, lock_annotations=lock_annotations, timeouts=timeouts,
                     clock=clock, sleep=sleep, now=now, on_step=on_step)
    return engine.locked(engine.rollback), engine.released


def undeploy(kube: Any, *, environment: str, settings: Mapping[str, Any], lock_annotations: Mapping[str, str],
             timeouts: Timeouts | None = None, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep,
             now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
             on_step: Callable[[Step], None] | None = None) -> tuple[DeployResult, dict[str, str]]:
    """Delete `environment`'s InferenceService (the handler allows staging only)."""
    engine = _Engine(kube, environment, settings, lock_annotations=lock_annotations, timeouts=timeouts,
                     clock=clock, sleep=sleep, now=now, on_step=on_step)
    return engine.locked(engine.undeploy), engine.released
