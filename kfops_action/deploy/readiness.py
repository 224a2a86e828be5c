"""Is the *new* revision ready, and is traffic where we want it? Pure checks plus one wait loop.

Why not `status.observedGeneration >= metadata.generation` (what KServe's own e2e tests wait for):
KServe copies observedGeneration from the child object (the Knative Service, or the Deployment in
Standard mode), not from the InferenceService (kserve#6081), so it does not prove the controller
has seen our change. Instead, following the KServe sources (see the shared notes, 1.6):

1. `latestCreatedRevision` differs from the one recorded before our write (every spec or
   annotation change creates a revision, and kfops always changes `kfops/deployed-at`);
2. `latestReadyRevision == latestCreatedRevision`;
3. the traffic entry with `latestRevision: true` names that revision with the expected percent,
   and for a canary the `prev` entry names the previously rolled-out revision with the rest;
4. `Ready` is True (and `LatestDeploymentReady`/`RoutesReady` too when the controller sets them).

A new revision whose `LatestDeploymentReady` (or `PredictorConfigurationReady`) is False has
failed (Knative gave up on it): that is reported at once instead of waiting for the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import KubeApiError
from .isvc import predictor_status
from .result import TrafficShare

TRANSIENT_RETRIES = 3


@dataclass(frozen=True)
class Verdict:
    """One look at the status: ready, failed for good, or still waiting (and for what)."""

    ready: bool
    reason: str
    failed: bool = False
    revision: str | None = None
    timed_out: bool = False


@dataclass(frozen=True)
class RevisionExpectation:
    """What a finished rollout of a new revision looks like (Knative mode)."""

    previous_created: str | None     # latestCreatedRevision before our write; None on create
    latest_percent: int               # share the new revision must get
    previous_rolledout: str | None    # must hold the rest (tag `prev`) when latest_percent < 100


def conditions(isvc: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    status = (isvc or {}).get("status") or {}
    return {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}


def condition_text(isvc: dict[str, Any] | None, kind: str) -> str:
    c = conditions(isvc).get(kind)
    if not c:
        return f"{kind} not reported"
    extra = ": ".join(str(x) for x in (c.get("reason"), c.get("message")) if x)
    return f"{kind}={c.get('status')}{' (' + extra + ')' if extra else ''}"


def is_true(isvc: dict[str, Any] | None, kind: str) -> bool:
    return (conditions(isvc).get(kind) or {}).get("status") == "True"


def traffic(isvc: dict[str, Any] | None) -> list[TrafficShare]:
    """`status.components.predictor.traffic` as TrafficShare entries."""
    out = []
    for entry in predictor_status(isvc).get("traffic") or []:
        if isinstance(entry, dict):
            out.append(TrafficShare(entry.get("revisionName"), int(entry.get("percent") or 0),
                                    entry.get("tag"), bool(entry.get("latestRevision")),
                                    entry.get("url")))
    return out


def share_by_revision(isvc: dict[str, Any] | None) -> dict[str, int]:
    """Percent per revision name, summed (KServe may split 'over the same revision')."""
    shares: dict[str, int] = {}
    for entry in traffic(isvc):
        if entry.revision:
            shares[entry.revision] = shares.get(entry.revision, 0) + entry.percent
    return shares


def _describe(isvc: dict[str, Any] | None) -> str:
    entries = traffic(isvc)
    return ", ".join(str(e) for e in entries) if entries else "no traffic reported"


def _settled(isvc: dict[str, Any] | None) -> str | None:
    """Why the service is not Ready (None when it is): Ready and the Knative-only conditions."""
    for kind in ("LatestDeploymentReady", "RoutesReady"):
        if kind in conditions(isvc) and not is_true(isvc, kind):
            return condition_text(isvc, kind)
    if not is_true(isvc, "Ready"):
        return condition_text(isvc, "Ready")
    return None


def new_revision(isvc: dict[str, Any] | None, expect: RevisionExpectation) -> Verdict:
    """Has the new revision been created, become ready, and received its share of traffic?"""
    p = predictor_status(isvc)
    created, ready = p.get("latestCreatedRevision"), p.get("latestReadyRevision")
    if not created or created == expect.previous_created:
        return Verdict(False, f"waiting for KServe to create a new revision (latestCreatedRevision: "
                              f"{created or 'not set'})")
    if ready != created:
        for kind in ("LatestDeploymentReady", "PredictorConfigurationReady"):
            c = conditions(isvc).get(kind) or {}
            if c.get("status") == "False":
                return Verdict(False, f"the new revision {created} failed: {condition_text(isvc, kind)}",
                               failed=True, revision=created)
        return Verdict(False, f"waiting for the new revision {created} to become ready "
                              f"(latestReadyRevision: {ready or 'none'}; {condition_text(isvc, 'Ready')})",
                       revision=created)
    latest = [t for t in traffic(isvc) if t.latest]
    if not latest or latest[0].revision != created or latest[0].percent != expect.latest_percent:
        return Verdict(False, f"waiting for {expect.latest_percent}% of traffic on {created} "
                              f"(now: {_describe(isvc)})", revision=created)
    if expect.latest_percent < 100 and expect.previous_rolledout:
        rest = 100 - expect.latest_percent
        prev = [t for t in traffic(isvc) if t.tag == "prev"]
        if not prev or prev[0].revision != expect.previous_rolledout or prev[0].percent != rest:
            return Verdict(False, f"waiting for {rest}% of traffic on the previous revision "
                                  f"{expect.previous_rolledout} (now: {_describe(isvc)})",
                           revision=created)
    if sum(t.percent for t in traffic(isvc)) != 100:
        return Verdict(False, f"waiting for traffic to add up to 100% (now: {_describe(isvc)})",
                       revision=created)
    unsettled = _settled(isvc)
    if unsettled:
        return Verdict(False, f"waiting for the InferenceService to be Ready ({unsettled})",
                       revision=created)
    return Verdict(True, f"{created} is ready with {expect.latest_percent}% of traffic",
                   revision=created)


def serving_only(isvc: dict[str, Any] | None, revision: str, *, rolled_out: bool) -> Verdict:
    """Does `revision` get 100% of traffic? `rolled_out` also requires KServe to have recorded it
    as `latestRolledoutRevision` (true after a promotion, not after a rollback to a pinned one)."""
    shares = share_by_revision(isvc)
    if shares.get(revision) != 100:
        return Verdict(False, f"waiting for 100% of traffic on {revision} (now: {_describe(isvc)})",
                       revision=revision)
    if rolled_out and predictor_status(isvc).get("latestRolledoutRevision") != revision:
        return Verdict(False, f"waiting for KServe to record {revision} as rolled out "
                              f"(latestRolledoutRevision: "
                              f"{predictor_status(isvc).get('latestRolledoutRevision') or 'none'})",
                       revision=revision)
    if rolled_out:
        unsettled = _settled(isvc)
        if unsettled:
            return Verdict(False, f"waiting for the InferenceService to be Ready ({unsettled})",
                           revision=revision)
    return Verdict(True, f"100% of traffic on {revision}", revision=revision)


def standard_ready(isvc: dict[str, Any] | None, *, previous_observed: Any = None,
                   must_change: bool = False) -> Verdict:
    """Standard/RawDeployment mode has no revisions: Ready, with an address, and (after a spec
    change) an observedGeneration that moved. That last signal is the Deployment's generation
    (kserve#6081) and only says the controller pushed *a* change: kfops runs the endpoint check
    on a separate candidate service before replacing, so this wait only confirms the replace."""
    status = (isvc or {}).get("status") or {}
    if must_change and status.get("observedGeneration") == previous_observed:
        return Verdict(False, "waiting for KServe to roll the change out "
                              f"(observedGeneration still {previous_observed})")
    if not is_true(isvc, "Ready"):
        for kind in ("PredictorReady",):
            c = conditions(isvc).get(kind) or {}
            if c.get("status") == "False" and c.get("reason") in ("InvalidSpec", "ServingRuntimeNotFound"):
                return Verdict(False, f"KServe refused the InferenceService: {condition_text(isvc, kind)}",
                               failed=True)
        return Verdict(False, f"waiting for the InferenceService to be Ready "
                              f"({condition_text(isvc, 'Ready')})")
    if not (status.get("url") or (status.get("address") or {}).get("url")):
        return Verdict(False, "waiting for KServe to publish the service URL")
    return Verdict(True, "Ready")


def wait_for(read: Callable[[], dict[str, Any] | None],
             judge: Callable[[dict[str, Any] | None], Verdict], *, timeout: float,
             poll_interval: float, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep,
             on_tick: Callable[[], None] | None = None,
             transient_retries: int = TRANSIENT_RETRIES) -> tuple[Verdict, dict[str, Any] | None]:
    """Poll `read` until `judge` says ready or failed, or until `timeout` seconds.

    Returns the last verdict (with `timed_out=True` on timeout) and the last object read, so the
    caller can report exactly what it was still waiting for. A poll of one GET per interval (1 s
    by default) detects a status change within the interval without loading the API server.
    Up to `transient_retries` consecutive 5xx/unreachable errors are tolerated.
    """
    deadline = clock() + timeout
    failures = 0
    verdict = Verdict(False, "not checked yet")
    obj: dict[str, Any] | None = None
    while True:
        try:
            obj = read()
        except KubeApiError as exc:
            if exc.status not in (None, 500, 502, 503, 504) or failures >= transient_retries:
                raise
            failures += 1
        else:
            failures = 0
            verdict = judge(obj)
            if verdict.ready or verdict.failed:
                return verdict, obj
        if on_tick is not None:
            on_tick()
        remaining = deadline - clock()
        if remaining <= 0:
            return Verdict(False, verdict.reason, revision=verdict.revision, timed_out=True), obj
        sleep(min(poll_interval, remaining))


def canary_entry(isvc: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """Our entry of `spec.canary` (Standard mode, KServe >= v0.20), or None."""
    for entry in ((isvc or {}).get("spec") or {}).get("canary") or []:
        if isinstance(entry, dict) and (entry.get("predictor") or {}).get("name") == name:
            return entry
    return None


def standard_canary_ready(isvc: dict[str, Any] | None, name: str, percent: int) -> Verdict:
    """Is the Standard-mode canary `name` running with `percent` in its spec?

    KServe v0.20 reports a Standard-mode canary in `status.canaryStatuses[]` and the
    `CanaryPredictorReady` condition (kserve#5672); the condition is over all canaries, and kfops
    writes exactly one, so it is the canary's own readiness once `canaryStatuses` names it.
    `Ready` (PredictorReady + IngressReady) must stay True: the stable predictor still serves.
    """
    entry = canary_entry(isvc, name)
    if entry is None or entry.get("trafficPercent") != percent:
        return Verdict(False, f"waiting for spec.canary to name {name} at {percent}%")
    statuses = ((isvc or {}).get("status") or {}).get("canaryStatuses") or []
    if not any(isinstance(s, dict) and s.get("name") == name for s in statuses):
        return Verdict(False, f"waiting for KServe to report the canary {name} in "
                              "status.canaryStatuses", revision=name)
    c = conditions(isvc).get("CanaryPredictorReady") or {}
    if c.get("status") != "True":
        if c.get("status") == "False" and c.get("reason") in ("InvalidSpec",
                                                              "ServingRuntimeNotFound"):
            return Verdict(False, f"KServe refused the canary {name}: "
                                  f"{condition_text(isvc, 'CanaryPredictorReady')}",
                           failed=True, revision=name)
        return Verdict(False, f"waiting for the canary {name} to become ready "
                              f"({condition_text(isvc, 'CanaryPredictorReady')})", revision=name)
    if not is_true(isvc, "Ready"):
        return Verdict(False, f"waiting for the InferenceService to be Ready "
                              f"({condition_text(isvc, 'Ready')})", revision=name)
    return Verdict(True, f"the canary {name} is ready with trafficPercent {percent}",
                   revision=name)


def standard_canary_gone(isvc: dict[str, Any] | None, name: str) -> Verdict:
    """After a promotion or rollback: no canary in the spec or the status, stable predictor Ready."""
    status = (isvc or {}).get("status") or {}
    if ((isvc or {}).get("spec") or {}).get("canary"):
        return Verdict(False, "waiting for spec.canary to be removed")
    if any(isinstance(s, dict) and s.get("name") == name for s in status.get("canaryStatuses") or []):
        return Verdict(False, f"waiting for KServe to drop the canary {name} from "
                              "status.canaryStatuses")
    if not is_true(isvc, "Ready"):
        return Verdict(False, f"waiting for the InferenceService to be Ready "
                              f"({condition_text(isvc, 'Ready')})")
    return Verdict(True, "no canary left; the InferenceService is Ready")
