"""The rollout engine behind /deploy and /staging_deploy.

    deploy(kube, environment=..., settings=..., manifest=..., provenance=..., check=...)

1. Lock the environment (a Lease; see lock.py).
2. Read the InferenceService.
   - Missing: create it and wait until its first revision is Ready with 100% (KServe ignores
     `canaryTrafficPercent` on the first create: there is no rolled-out revision to split with).
   - Knative/Serverless: patch the spec (exactly the template's, via a merge patch with nulls for
     removed fields) with `canaryTrafficPercent: 0`; wait for the *new* revision to be Ready
     (readiness.py); give it the canary share (default 10) and wait for the split; run the
     endpoint check against it; promote by removing the field (merge patch with null); wait
     until it has 100% and is `latestRolledoutRevision`.
   - Standard/RawDeployment: with KServe >= v0.20's `spec.canary` (read from the CRD), a canary
     beside the stable predictor (standard_canary.py); without it, refuse, or replace after
     checking a candidate (mode.py).
   - `canary_steps: [10, 50, 100]` walks the share up with the endpoint check (and
     `canary_pause`) at every step, in both modes (canary_plan.py); the first failing step rolls
     back and is named in the report.
3. Any failure after the write rolls back: `canaryTrafficPercent: 0` pins all traffic to the
   previously rolled-out revision (KServe's documented rollback, which also works after a
   promotion, in two reconcile passes). A failed first deploy deletes what it created: nothing
   served before. The error carries a DeployResult saying what failed and what serves now.

Clock, sleep and wall time are injected, so tests drive time; every wait is bounded.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import KfopsError, Problem
from . import annotations as ann
from . import mode as modes
from .canary_plan import DEFAULT_CANARY, CanaryPlan, plan_from_settings
from .canary_support import spec_canary_support
from .endpoint_check import CheckOutcome, CheckTarget, EndpointChecker
from .errors import DeployError, LockLost, RolloutFailed
from .isvc import IsvcApi, merge_patch, predictor_status
from .kube import Kube
from .lock import DeployLock
from .readiness import (RevisionExpectation, Verdict, new_revision, serving_only, standard_ready,
                        traffic, wait_for)
from .result import DeployResult, Step, timed_step
from .standard_canary import StandardCanary, canary_name
from .template import check_manifest

CANDIDATE_SUFFIX = "-candidate"


@dataclass(frozen=True)
class Timeouts:
    """Bounds, in seconds. `from_settings` reads `deployment.<env>.timeouts` and `.lock`."""

    ready: float = 600.0          # new revision Ready with its share of traffic
    promote: float = 300.0        # 100% on the new revision after promotion
    rollback: float = 300.0       # 100% back on the previous revision
    poll: float = 1.0             # one GET per poll: detection within a second, cheap for the API
    lock_wait: float = 0.0        # wait for another deploy's lock (0: refuse at once)
    lock_duration: float = 900.0  # a crashed job's lock expires after this (renewed while alive)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Timeouts:
        t = settings.get("timeouts") or {}
        lock = settings.get("lock") or {}
        d = cls()
        return cls(ready=float(t.get("ready", d.ready)), promote=float(t.get("promote", d.promote)),
                   rollback=float(t.get("rollback", d.rollback)), poll=float(t.get("poll", d.poll)),
                   lock_wait=float(lock.get("wait", d.lock_wait)),
                   lock_duration=float(lock.get("duration", d.lock_duration)))


def deploy(kube: Any, *, environment: str, settings: Mapping[str, Any], manifest: Mapping[str, Any],
           provenance: Mapping[str, Any], check: EndpointChecker | None = None,
           timeouts: Timeouts | None = None, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep,
           now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
           on_step: Callable[[Step], None] | None = None) -> DeployResult:
    """Roll `manifest` out to `settings` (the `deployment.<environment>` section).

    `kube` is a kubernetes ApiClient (or a `Kube`). `manifest` is the rendered InferenceService
    (template.load_manifest). `provenance` needs pr, commit, run_id and actor (see annotations.py).
    `check` is None when no endpoint check is configured (the result says it was skipped).
    Returns the DeployResult on success; raises a DeployError (with `.result` once the cluster
    may have changed) on failure.
    """
    api = kube if isinstance(kube, Kube) else Kube(kube)
    timeouts = timeouts or Timeouts.from_settings(settings)
    name, namespace = settings["inference_service"], settings["namespace"]
    policy = settings.get("raw_deployment", "refuse")
    if policy not in modes.POLICIES:
        raise DeployError(f"deployment.{environment}.raw_deployment must be one of "
                          f"{', '.join(modes.POLICIES)}, got {policy!r}", exit_code=2)
    plan = plan_from_settings(settings, environment)
    annotations = ann.provenance_annotations(provenance, environment=environment, now=now())
    desired = check_manifest(copy.deepcopy(dict(manifest)), name=name, namespace=namespace,
                             source="the rendered manifest")
    desired = ann.annotate(desired, annotations)
    desired["spec"]["predictor"].pop("canaryTrafficPercent", None)  # the engine owns this field
    if check is not None and getattr(check, "needs_revision_url", True) \
            and len(f"latest-{name}-predictor-default") <= 63:
        # The canary's own URL exists only with tag routing; adding the annotation costs nothing
        # more than the revision this deploy creates anyway. Not for long names: the `latest-`
        # host label would pass DNS's 63 characters (kserve#2428); endpoint_check.url then.
        desired["metadata"]["annotations"].setdefault(ann.TAG_ROUTING, "true")
    engine = _Rollout(api, environment, name, namespace, desired, plan, policy, check,
                      timeouts, clock, sleep, on_step)
    engine.canary_name = canary_name(provenance.get("commit"))
    lock = DeployLock(api, namespace, name, annotations=annotations, environment=environment,
                      duration=timeouts.lock_duration, wait=timeouts.lock_wait,
                      poll_interval=max(timeouts.poll, 0.01), clock=clock, sleep=sleep, now=now)
    try:
        with engine.step("lock") as s:
            lock.acquire()
            s.detail = f"Lease {namespace}/{lock.name}" + (
                f" (took over an expired lock of {lock.took_over.describe()})"
                if lock.took_over else "")
        engine.lock = lock
        with lock_released(lock):
            return engine.run()
    except DeployError as error:
        if error.result is None:  # every failure says what was tried and what serves now
            if not engine.result.message:
                engine.result.message = error.what
            error.result = engine.result
        raise


@contextmanager
def lock_released(lock: DeployLock) -> Iterator[None]:
    """Release on the way out; a failed release (it expires anyway) never hides the outcome."""
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


class _Failed(Exception):
    """A step failed after the cluster was changed: roll back, then report `reason`."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step, self.reason = step, reason


class _Rollout(StandardCanary):
    def __init__(self, api: Kube, environment: str, name: str, namespace: str,
                 desired: dict[str, Any], plan: CanaryPlan, policy: str,
                 check: EndpointChecker | None, timeouts: Timeouts,
                 clock: Callable[[], float], sleep: Callable[[float], None],
                 on_step: Callable[[Step], None] | None) -> None:
        self.isvc = IsvcApi(api)
        self.environment, self.name, self.namespace = environment, name, namespace
        self.desired, self.policy, self.check, self.t = desired, policy, check, timeouts
        self.plan = plan
        self.canary = plan.steps[0] if plan.steps else DEFAULT_CANARY
        self.canary_name = canary_name(None)
        self.clock, self.sleep, self.on_step = clock, sleep, on_step
        self.lock: DeployLock | None = None
        self.where = f"InferenceService {namespace}/{name}"
        self.result = DeployResult(environment, name, namespace)

    # -- plumbing --------------------------------------------------------------------------
    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        with timed_step(self.result, name, self.clock, self.on_step) as record:
            yield record

    def _tick(self) -> None:
        if self.lock is not None:
            self.lock.renew()

    def pause(self, seconds: float) -> None:
        """`canary_pause` between two steps: time for the share to meet real users (and their
        alerts) before the next one; the lock is renewed meanwhile."""
        if seconds <= 0:
            return
        with self.step("pause") as s:
            deadline = self.clock() + seconds
            while (left := deadline - self.clock()) > 0:
                self._tick()
                self.sleep(min(max(self.t.poll, 0.01), left))
            s.detail = f"canary_pause: {seconds:g} s before the next step"

    def wait(self, name: str, judge: Callable[[dict[str, Any] | None], Verdict],
             timeout: float, isvc: str | None = None) -> dict[str, Any] | None:
        """Wait for `judge`; a failure or timeout raises _Failed naming what was awaited."""
        target = isvc or self.name
        with self.step(name) as s:
            verdict, obj = wait_for(lambda: self.isvc.get(self.namespace, target), judge,
                                    timeout=timeout, poll_interval=self.t.poll, clock=self.clock,
                                    sleep=self.sleep, on_tick=self._tick)
            s.detail = verdict.reason
            if verdict.timed_out:
                s.ok = False
                raise _Failed(name, f"timed out after {timeout:g} s: {verdict.reason}")
            if not verdict.ready:
                s.ok = False
                raise _Failed(name, verdict.reason)
        return obj

    def _observe(self, obj: dict[str, Any] | None) -> None:
        """Record the serving state of `obj` in the result."""
        self.result.traffic = traffic(obj)
        status = (obj or {}).get("status") or {}
        self.result.url = status.get("url") or self.result.url

    def _fail(self, what: str, problems: list[Problem], fix: str, cause: BaseException | None = None
              ) -> RolloutFailed:
        self.result.succeeded = False
        self.result.message = what
        problems = problems + [Problem(f"serving now: {self.result.serving}", self.where)]
        error = RolloutFailed(what, problems, fix, result=self.result)
        if cause is not None:
            error.__cause__ = cause
        return error

    # -- entry -----------------------------------------------------------------------------
    def run(self) -> DeployResult:
        with self.step("read") as s:
            live = self.isvc.get(self.namespace, self.name)
            s.detail = "not found: first deploy" if live is None else \
                f"exists (resourceVersion {live['metadata'].get('resourceVersion')})"
        if live is None:
            return self.first_deploy()
        mode = modes.detect(live, self.desired)
        self.result.mode = mode.name or "unknown"
        modes.check_compatible(mode, self.desired, self.where)
        if mode.name == modes.MODELMESH:
            raise modes.refuse_modelmesh(self.where)
        if mode.standard:
            with self.step("canary support") as s:
                support = spec_canary_support(self.isvc.kube)
                s.detail = support.reason
            if support.supported:
                return self.canary_standard(live)
            if self.policy == "refuse":
                error = modes.refuse_canary(mode, self.where, self.environment, support.reason)
                self.result.strategy, self.result.message = "none", error.what
                error.result = self.result
                raise error
            return self.replace_standard(live)
        return self.canary_deploy(live)

    # -- first deploy ----------------------------------------------------------------------
    def first_deploy(self) -> DeployResult:
        self.result.strategy = "create"
        mode = modes.detect(None, self.desired)
        self.result.mode = mode.name or modes.KNATIVE
        with self.step("create") as s:
            created = self.isvc.create(self.desired)
            s.detail = f"created {self.where} (first deploy: 100% once Ready; no canary possible)"
        try:
            obj = self.wait("wait ready", self._first_ready, self.t.ready)
            self._observe(obj)
            self.result.mode = modes.detect(obj).name or self.result.mode
            revision = predictor_status(obj).get("latestReadyRevision")
            self.result.revision_after = revision
            self.run_check(obj, revision, full_traffic=True)
        except LockLost:
            raise  # another deploy owns the environment now: do not touch its object
        except Exception as exc:
            self._delete_created(created)
            reason = exc.reason if isinstance(exc, _Failed) else str(exc).splitlines()[0]
            raise self._fail(
                f"first deploy of {self.where} failed: {reason}; " + (
                    "kfops deleted the InferenceService it had just created (nothing served "
                    "before)" if self.result.rolled_back else
                    "kfops could not delete the InferenceService it had just created"),
                [Problem(reason, getattr(exc, "step", "deploy"))],
                "read the reason above (and the predictor pods' logs), fix the model or "
                "template, and deploy again", exc) from None
        self.result.succeeded = True
        self.result.message = (f"created {self.where}: revision {revision or '(Standard mode)'} "
                               "serves 100% (first deploy, so no canary)")
        return self.result

    def _first_ready(self, obj: dict[str, Any] | None) -> Verdict:
        if modes.detect(obj, self.desired).standard:
            return standard_ready(obj)
        return new_revision(obj, RevisionExpectation(None, 100, None))

    def _delete_created(self, created: dict[str, Any]) -> None:
        with self.step("rollback: delete") as s:
            try:
                self.isvc.delete(self.namespace, created["metadata"]["name"])
                s.detail = f"deleted {self.where}"
                self.result.rolled_back = True
                self.result.traffic = []
                self.result.revision_after = None
            except KfopsError as exc:
                s.ok = False
                s.detail = f"could not delete it: {exc.what}"

    # -- Knative canary --------------------------------------------------------------------
    def canary_deploy(self, live: dict[str, Any]) -> DeployResult:
        """New revision at 0%, then the canary share, then the check, then promotion.

        Why the new spec first goes out at 0%: Knative resolves `latestRevision: true` to the
        latest *ready* revision. After an earlier rollback that is the rejected revision (kept
        at 0%), so writing the new spec with 10% at once would hand 10% of users back to the
        rejected model until the new revision is Ready. At 0% nothing moves until the new
        revision is ready; only then does it get its share.
        """
        self.result.mode = modes.KNATIVE if self.result.mode == "unknown" else self.result.mode
        wanted = self.canary
        current_step = "canary"

        def make_patch(current: dict[str, Any]) -> dict[str, Any]:
            spec = copy.deepcopy(self.desired["spec"])
            spec["predictor"]["canaryTrafficPercent"] = 0
            return {"metadata": {"annotations": self.desired["metadata"]["annotations"],
                                 "labels": self.desired["metadata"]["labels"]},
                    "spec": merge_patch(current.get("spec") or {}, spec)}

        with self.step("new revision") as s:
            before, _ = self.isvc.update(self.namespace, self.name, make_patch)
            p = predictor_status(before)
            created_before = p.get("latestCreatedRevision")
            rolled_out = p.get("latestRolledoutRevision")
            self.result.revision_before = rolled_out or p.get("latestReadyRevision")
            self._observe(before)
            # KServe splits only when a revision was rolled out (had 100%) before
            steps = list(self.plan.steps) if rolled_out else [100]
            multi = len(steps) > 1
            below = [p for p in steps if p < 100]
            self.result.strategy = "canary" if below else "rollout"
            self.result.canary_percent = below[-1] if below else None
            s.detail = ("patched the spec with canaryTrafficPercent: 0 (the new revision starts "
                        "with no traffic)" if rolled_out else
                        "patched the spec; no revision was rolled out before, so KServe gives the "
                        "new one 100% once Ready (no canary possible)")
        try:
            obj = self.wait("wait new revision ready", lambda o: new_revision(
                o, RevisionExpectation(created_before, 0 if rolled_out else 100, rolled_out)),
                self.t.ready)
            revision = predictor_status(obj).get("latestReadyRevision")
            self.result.revision_after = revision
            for index, percent in enumerate(steps):
                label = self.plan.label(index) if multi else "canary"
                current_step = label
                if rolled_out and percent > 0:
                    with self.step(label) as s:
                        self.isvc.update(self.namespace, self.name, lambda current, p=percent: {
                            "spec": {"predictor": {"canaryTrafficPercent": p}}})
                        s.detail = f"canaryTrafficPercent: {percent}"
                    obj = self.wait(f"wait {label}" if multi else "wait canary traffic",
                                    lambda o, p=percent: new_revision(
                                        o, RevisionExpectation(created_before, p, rolled_out)),
                                    self.t.ready)
                self._observe(obj)
                self.run_check(obj, revision, full_traffic=percent == 100,
                               label=f"endpoint check at {percent}%" if multi else "endpoint check")
                if rolled_out:
                    self.result.canary_steps.append(percent)
                if index + 1 < len(steps):
                    self.pause(self.plan.pause)
            self.promote(revision)
        except LockLost:
            raise
        except Exception as exc:
            reason = exc.reason if isinstance(exc, _Failed) else str(exc).splitlines()[0]
            step = exc.step if isinstance(exc, _Failed) else (
                self.result.steps[-1].name if self.result.steps else "deploy")
            self.rollback_knative(rolled_out)
            if self.plan.multi and rolled_out and current_step != step:
                step = f"{current_step}: {step}"
            if self.result.rolled_back:
                what = (f"deploy to {self.environment} failed at '{step}': {reason}; rolled back: "
                        f"all traffic is on the previous revision {rolled_out}")
                fix = ("the failed revision stays in the spec with 0% of traffic "
                       "(canaryTrafficPercent: 0 pins the previous one); fix the model and /deploy "
                       "again, which replaces it")
            else:
                what = f"deploy to {self.environment} failed at '{step}': {reason}; " + (
                    "the rollback could not be confirmed" if rolled_out else
                    "nothing had been rolled out before, so there was nothing to roll back to")
                fix = ("check the InferenceService by hand (kubectl get isvc -n "
                       f"{self.namespace} {self.name}) before deploying again")
            raise self._fail(what, [Problem(reason, step)], fix, exc) from None
        self.result.succeeded = True
        checked = " and the endpoint check" if self.check else ""
        if len(self.result.canary_steps) > 1:
            shares = " -> ".join(f"{p}%" for p in self.result.canary_steps)
            self.result.message = (f"{revision} passed the canary steps {shares}{checked} at "
                                   f"every step, then was promoted to 100% "
                                   f"(previous: {self.result.revision_before})")
        elif self.result.canary_percent == 0:
            self.result.message = (f"{revision} passed{checked or ' readiness'} with 0% of traffic "
                                   f"(canary_percent: 0), then was promoted to 100% "
                                   f"(previous: {self.result.revision_before})")
        elif self.result.canary_percent is not None:
            self.result.message = (f"{revision} passed a {self.result.canary_percent}% canary"
                                   f"{checked}, then was promoted to 100% "
                                   f"(previous: {self.result.revision_before})")
        else:
            self.result.message = (f"{revision} was rolled out to 100% without a canary "
                                   + ("(canary_percent is 100)" if wanted >= 100 else
                                      "(no revision had been rolled out before)"))
        return self.result

    def promote(self, revision: str | None) -> None:
        def remove_canary(current: dict[str, Any]) -> dict[str, Any] | None:
            predictor = (current.get("spec") or {}).get("predictor") or {}
            if "canaryTrafficPercent" not in predictor:
                return None
            return {"spec": {"predictor": {"canaryTrafficPercent": None}}}

        with self.step("promote") as s:
            _, after = self.isvc.update(self.namespace, self.name, remove_canary)
            if "canaryTrafficPercent" in ((after.get("spec") or {}).get("predictor") or {}):
                raise _Failed("promote", "canaryTrafficPercent is still set after the merge patch")
            s.detail = "removed canaryTrafficPercent (merge patch with null)"
        obj = self.wait("wait promoted", lambda o: serving_only(o, revision or "", rolled_out=True),
                        self.t.promote)
        self._observe(obj)

    def rollback_knative(self, previous: str | None) -> None:
        if not previous:
            return
        self.roll_back(lambda current: {"spec": {"predictor": {"canaryTrafficPercent": 0}}},
                       f"canaryTrafficPercent: 0 (all traffic back to {previous})",
                       lambda o: serving_only(o, previous, rolled_out=False))

    def roll_back(self, make_patch: Callable[[dict[str, Any]], dict[str, Any] | None], detail: str,
                  judge: Callable[[dict[str, Any] | None], Verdict]) -> None:
        """Write the rollback and wait for `judge`; `result.rolled_back` only once confirmed (a
        failed rollback must never be reported as one)."""
        with self.step("rollback") as s:
            try:
                self.isvc.update(self.namespace, self.name, make_patch)
                s.detail = detail
            except KfopsError as exc:
                s.ok = False
                s.detail = f"could not write the rollback: {exc.what}"
                return
        try:
            obj = self.wait("wait rolled back", judge, self.t.rollback)
        except _Failed:
            obj = self._safe_get()
            self._observe(obj)
            return
        except KfopsError:
            return
        self._observe(obj)
        self.result.rolled_back = True

    def _safe_get(self) -> dict[str, Any] | None:
        try:
            return self.isvc.get(self.namespace, self.name)
        except KfopsError:
            return None

    # -- endpoint check --------------------------------------------------------------------
    def run_check(self, obj: dict[str, Any] | None, revision: str | None, *,
                  full_traffic: bool, isvc: str | None = None, label: str = "endpoint check",
                  target: CheckTarget | None = None) -> CheckOutcome | None:
        """Check the new revision (or candidate service, or `target`); raise _Failed when it does
        not pass. `label` names the step (one per canary step when there are several)."""
        with self.step(label) as s:
            if self.check is None:
                s.detail = "not configured (deployment.<env>.endpoint_check): skipped"
                return None
            target = target or self._target(obj, revision, full_traffic, isvc)
            outcome = self.check(target)
            self.result.check_url = outcome.url
            s.detail = f"{outcome.url or 'no URL'}: {outcome.detail}"
            if not outcome.passed:
                s.ok = False
                raise _Failed(label, f"{target.what} failed the endpoint check: "
                                                f"{outcome.detail}")
            return outcome

    def _target(self, obj: dict[str, Any] | None, revision: str | None, full_traffic: bool,
                isvc: str | None) -> CheckTarget:
        status = (obj or {}).get("status") or {}
        predictor = predictor_status(obj)
        for entry in traffic(obj):
            if entry.tag == "latest" and entry.revision == revision and entry.url:
                return CheckTarget(self.name, self.namespace, entry.url, revision,
                                   f"the new revision {revision} (tag latest)")
        if full_traffic or isvc:
            url = (predictor.get("url") or status.get("url")
                   or (status.get("address") or {}).get("url"))
            what = f"the candidate {isvc}" if isvc else f"the new revision {revision or ''}".strip()
            return CheckTarget(self.name, self.namespace, url, revision, what, service=isvc)
        return CheckTarget(self.name, self.namespace, None, revision, f"the new revision {revision}")

    # -- Standard / RawDeployment ----------------------------------------------------------
    def replace_standard(self, live: dict[str, Any]) -> DeployResult:
        self.result.strategy = "replace"
        self.result.canary_percent = None
        candidate_name = _candidate_name(self.name)
        candidate = copy.deepcopy(self.desired)
        candidate["metadata"]["name"] = candidate_name
        candidate["metadata"]["annotations"][ann.PREFIX + "candidate-for"] = self.name
        self._remove_leftover(candidate_name)
        try:
            with self.step("candidate") as s:
                self.isvc.create(candidate)
                s.detail = (f"created {self.namespace}/{candidate_name} with the new model "
                            "(Standard mode has no traffic split, so no canary)")
            obj = self.wait("wait candidate ready", lambda o: standard_ready(o), self.t.ready,
                            isvc=candidate_name)
            self.run_check(obj, None, full_traffic=True, isvc=candidate_name)
        except (_Failed, KfopsError) as exc:
            self._remove_candidate(candidate_name)
            reason = exc.reason if isinstance(exc, _Failed) else exc.what
            self._observe(live)
            raise self._fail(f"deploy to {self.environment} failed on the candidate "
                             f"{candidate_name}: {reason}; {self.where} was not changed",
                             [Problem(reason, candidate_name)],
                             "fix the model or template and deploy again", exc) from None
        self._remove_candidate(candidate_name)

        previous_spec = copy.deepcopy(live.get("spec") or {})
        previous_annotations = dict((live.get("metadata") or {}).get("annotations") or {})

        def replace(current: dict[str, Any]) -> dict[str, Any]:
            return {"metadata": {"annotations": self.desired["metadata"]["annotations"],
                                 "labels": self.desired["metadata"]["labels"]},
                    "spec": merge_patch(current.get("spec") or {}, self.desired["spec"])}

        with self.step("replace") as s:
            before, _ = self.isvc.update(self.namespace, self.name, replace)
            observed = ((before.get("status") or {}).get("observedGeneration"))
            s.detail = f"replaced the spec of {self.where} (100%, no canary)"
        try:
            obj = self.wait("wait ready", lambda o: standard_ready(
                o, previous_observed=observed, must_change=True), self.t.ready)
        except LockLost:
            raise
        except Exception as exc:
            reason = exc.reason if isinstance(exc, _Failed) else str(exc).splitlines()[0]
            try:
                self._restore_standard(previous_spec, previous_annotations)
            except KfopsError:
                pass  # recorded in the step; the message below says it was not confirmed
            raise self._fail(f"deploy to {self.environment} failed: {reason}"
                             + ("; the previous spec was restored" if self.result.rolled_back
                                else "; restoring the previous spec could not be confirmed"),
                             [Problem(reason, "wait ready")],
                             "check the InferenceService's pods and events", exc) from None
        self._observe(obj)
        self.result.succeeded = True
        self.result.message = (f"{self.where} runs in Standard (RawDeployment) mode, which has no "
                               f"traffic split: the new model passed the checks on the separate "
                               f"InferenceService {candidate_name}, then replaced the previous one "
                               "at 100% (no canary)")
        return self.result

    def _remove_leftover(self, candidate_name: str) -> None:
        if self.isvc.get(self.namespace, candidate_name) is not None:
            self._remove_candidate(candidate_name)

    def _remove_candidate(self, candidate_name: str) -> None:
        with self.step("remove candidate") as s:
            self.isvc.delete(self.namespace, candidate_name)
            deadline = self.clock() + self.t.rollback
            while self.isvc.get(self.namespace, candidate_name) is not None:
                if self.clock() >= deadline:
                    s.ok = False
                    s.detail = f"{candidate_name} is still being deleted"
                    return
                self.sleep(self.t.poll)
            s.detail = f"deleted {self.namespace}/{candidate_name}"

    def _restore_standard(self, spec: dict[str, Any], annotations: dict[str, str]) -> None:
        def restore(current: dict[str, Any]) -> dict[str, Any]:
            now = (current.get("metadata") or {}).get("annotations") or {}
            back: dict[str, Any] = {k: None for k in now if k.startswith(ann.PREFIX)
                                    and k not in annotations}
            back.update({k: v for k, v in annotations.items() if k.startswith(ann.PREFIX)})
            return {"metadata": {"annotations": back},
                    "spec": merge_patch(current.get("spec") or {}, spec)}

        with self.step("rollback: restore spec") as s:
            before, _ = self.isvc.update(self.namespace, self.name, restore)
            s.detail = "restored the previous spec"
        observed = (before.get("status") or {}).get("observedGeneration")
        try:
            obj = self.wait("wait rolled back", lambda o: standard_ready(
                o, previous_observed=observed, must_change=True), self.t.rollback)
        except _Failed:
            return
        self._observe(obj)
        self.result.rolled_back = True


def _candidate_name(name: str) -> str:
    return name[:63 - len(CANDIDATE_SUFFIX)].rstrip("-") + CANDIDATE_SUFFIX
