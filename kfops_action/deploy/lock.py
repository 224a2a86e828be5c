"""One deploy per environment at a time: a coordination.k8s.io/v1 Lease in the target namespace.

Why a Lease: it lives where the deploy happens (no extra service), writes are atomic through
resourceVersion (two deployers racing for it: one gets 409 and sees the other as holder), and its
`renewTime + leaseDurationSeconds` makes a crashed job's lock expire instead of blocking releases
forever. The holder (PR, run, actor, workflow run) is in the Lease's annotations, so a refused
deploy can say who holds the lock and since when, and `kubectl get lease -o yaml` tells the same.

Expiry compares the holder's `renewTime` with our wall clock, so clocks are assumed to agree to
well under the lease duration (minutes); the engine renews the lease while it waits.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import Problem
from .annotations import MANAGED_BY, provenance_of
from .errors import Conflict, KubeApiError, LockHeld, LockLost
from .kube import Kube

GROUP, PLURAL = "coordination.k8s.io", "leases"
DEFAULT_DURATION = 900.0
RELEASED_AT = "kfops/released-at"


def lease_name(isvc: str) -> str:
    return f"kfops-deploy-{isvc}"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _micro(at: datetime) -> str:
    """Kubernetes MicroTime: RFC 3339 with microseconds, in UTC."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the lock, read from the Lease."""

    identity: str | None
    acquired: datetime | None
    renewed: datetime | None
    duration: float
    provenance: dict[str, str]

    @property
    def expires(self) -> datetime | None:
        start = self.renewed or self.acquired
        return start + timedelta(seconds=self.duration) if start else None

    def free(self, now: datetime) -> bool:
        """Nobody holds it, or the holder stopped renewing it (a crashed job)."""
        if not self.identity:
            return True
        expires = self.expires
        return expires is None or expires <= now

    def describe(self) -> str:
        p = self.provenance
        parts = []
        if p.get("pr"):
            parts.append(f"PR {p['pr']}")
        if p.get("run_id"):
            parts.append(f"run {p['run_id']}")
        if p.get("actor"):
            parts.append(f"by {p['actor']}")
        if p.get("workflow_run"):
            parts.append(f"workflow run {p['workflow_run']}")
        text = ", ".join(parts) or (self.identity or "an unknown holder")
        if self.acquired:
            text += f", since {self.acquired:%Y-%m-%d %H:%M:%S} UTC"
        return text


def holder_of(lease: Mapping[str, Any]) -> Holder:
    spec = lease.get("spec") or {}
    return Holder(spec.get("holderIdentity") or None, _parse(spec.get("acquireTime")),
                  _parse(spec.get("renewTime")), float(spec.get("leaseDurationSeconds") or 0),
                  provenance_of(lease))


class DeployLock:
    """Acquire, renew and release the environment's Lease. Use as a context manager."""

    def __init__(self, kube: Kube, namespace: str, isvc: str, *, annotations: Mapping[str, str],
                 environment: str, duration: float = DEFAULT_DURATION, wait: float = 0.0,
                 poll_interval: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], datetime] = _utcnow) -> None:
        self.kube, self.namespace, self.name = kube, namespace, lease_name(isvc)
        self.annotations = dict(annotations)
        self.environment = environment
        self.duration, self.wait, self.poll_interval = duration, wait, poll_interval
        self.clock, self.sleep, self.now = clock, sleep, now
        self.identity = f"kfops/{environment}/{secrets.token_hex(8)}"
        self.held = False
        self.took_over: Holder | None = None
        self._renewed_at = 0.0

    # -- API calls -------------------------------------------------------------------------
    def _read(self) -> dict[str, Any] | None:
        api = self.kube.coordination()
        try:
            return self.kube.call("get", GROUP, PLURAL, self.namespace, self.name,
                                  api.read_namespaced_lease, self.name, self.namespace, raw=True)
        except KubeApiError as exc:
            if exc.status == 404 and type(exc) is KubeApiError:
                return None
            raise

    def _body(self, previous: Mapping[str, Any] | None, *, acquire: bool) -> dict[str, Any]:
        now = _micro(self.now())
        spec = dict((previous or {}).get("spec") or {})
        spec.update(holderIdentity=self.identity,
                    leaseDurationSeconds=max(1, math.ceil(self.duration)),
                    renewTime=now)
        if acquire:
            spec["acquireTime"] = now
            if previous is not None:
                spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if previous is not None:
            metadata = dict(previous["metadata"])
        metadata["annotations"] = {k: v for k, v in (metadata.get("annotations") or {}).items()
                                   if not k.startswith("kfops/")} | self.annotations
        metadata["labels"] = {**(metadata.get("labels") or {}), MANAGED_BY: "kfops"}
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
                "spec": spec}

    def _create(self, body: dict[str, Any]) -> None:
        api = self.kube.coordination()
        self.kube.call("create", GROUP, PLURAL, self.namespace, self.name,
                       api.create_namespaced_lease, self.namespace, body, raw=True)

    def _replace(self, body: dict[str, Any]) -> None:
        api = self.kube.coordination()
        self.kube.call("update", GROUP, PLURAL, self.namespace, self.name,
                       api.replace_namespaced_lease, self.name, self.namespace, body, raw=True)

    # -- protocol --------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the lock, waiting up to `wait` seconds for a live holder; else raise LockHeld."""
        deadline = self.clock() + self.wait
        while True:
            lease = self._read()
            try:
                if lease is None:
                    self._create(self._body(None, acquire=True))
                    return self._got(None)
                holder = holder_of(lease)
                if holder.identity == self.identity or holder.free(self.now()):
                    self._replace(self._body(lease, acquire=holder.identity != self.identity))
                    return self._got(holder if holder.identity else None)
            except Conflict:
                continue  # someone wrote it between our read and write: look again
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise self._held(holder)
            self.sleep(min(self.poll_interval, remaining))

    def _got(self, previous: Holder | None) -> None:
        self.held = True
        self.took_over = previous
        self._renewed_at = self.clock()

    def _held(self, holder: Holder) -> LockHeld:
        expires = holder.expires
        waited = f" after waiting {self.wait:.0f} s" if self.wait > 0 else ""
        return LockHeld(
            f"another deploy to {self.environment} is in progress{waited}: {holder.describe()}",
            [Problem(f"Lease {self.namespace}/{self.name} held by {holder.identity}"
                     + (f" until {expires:%Y-%m-%d %H:%M:%S} UTC unless renewed" if expires else ""),
                     f"lease {self.namespace}/{self.name}")],
            "wait for it to finish and comment again; if that job is gone, the lock expires by "
            f"itself, or delete it: kubectl delete lease -n {self.namespace} {self.name}",
            holder=holder.provenance | {"identity": holder.identity or ""})

    def renew(self, *, force: bool = False) -> None:
        """Push the expiry forward (at most every third of the duration unless `force`).

        Raises LockLost when someone else holds the Lease now: our lease expired (the job
        stalled longer than the duration) and another deploy took over.
        """
        if not self.held or (not force and self.clock() - self._renewed_at < self.duration / 3):
            return
        for _ in range(5):
            lease = self._read()
            if lease is None or holder_of(lease).identity != self.identity:
                self.held = False
                holder = holder_of(lease) if lease else None
                raise LockLost(
                    f"the deploy lock for {self.environment} was lost"
                    + (f" to {holder.describe()}" if holder and holder.identity else ""),
                    [Problem("the lease expired while this deploy was still running",
                             f"lease {self.namespace}/{self.name}")],
                    "check the InferenceService by hand before deploying again: another deploy "
                    "may be changing it")
            try:
                self._replace(self._body(lease, acquire=False))
            except Conflict:
                continue
            self._renewed_at = self.clock()
            return

    def release(self) -> None:
        """Clear the holder (keeping the Lease and its annotations as a record of the last deploy)."""
        if not self.held:
            return
        for _ in range(5):
            lease = self._read()
            if lease is None or holder_of(lease).identity != self.identity:
                break
            body = self._body(lease, acquire=False)
            body["spec"].pop("holderIdentity", None)
            body["metadata"]["annotations"][RELEASED_AT] = _micro(self.now())
            try:
                self._replace(body)
            except Conflict:
                continue
            break
        self.held = False

    def __enter__(self) -> DeployLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.release()
        except KubeApiError:
            # a failed release must not hide the deploy's own outcome; the lease expires anyway
            pass
