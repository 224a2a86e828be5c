"""Locks people take by hand (`/lock`, `/lock --global`), held until `/unlock`: cluster Leases.

Why not the deploy Lease (lock.py): that one belongs to a running deploy and expires when its job
stops renewing it; a lock a person takes must outlive the job that took it ("nobody deploys
production while I migrate the feature store") and be released on purpose. Both are Leases in
the environment's namespace, so `kubectl get lease -n <ns>` shows them side by side, and the one
that decides at deploy time is read with the deploy credential, right before the deploy Lease is
taken: the cluster stays the ground truth, whatever GitHub shows.

- `kfops-lock-<isvc>`: the environment's lock. No `leaseDurationSeconds`: it does not expire.
- `kfops-lock-global`: the freeze, written into every environment's namespace.

Who holds it (login, pull request, reason, since when) is in the Lease's annotations. As in
github/branch-deploy, the holder of an environment's lock may still deploy there (a lock keeps
*other people* out); a freeze stops every deploy, the holder's too, but not `/rollback`, which
puts back what served before (a freeze must not block the way out of an incident).
Writes carry the resourceVersion read (a racing writer gets 409 and looks again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import Problem
from .annotations import ACTOR, MANAGED_BY, PR, REPOSITORY, WORKFLOW_RUN
from .errors import Conflict, KubeApiError, LockHeld
from .kube import Kube
from .lock import GROUP, PLURAL, _micro, _parse

GLOBAL = "global"
GLOBAL_LEASE = "kfops-lock-global"
REASON = "kfops/lock-reason"
SCOPE = "kfops/lock-scope"
UNLOCKED_BY = "kfops/unlocked-by"
UNLOCKED_AT = "kfops/unlocked-at"
IDENTITY_PREFIX = "kfops-lock/"
ATTEMPTS = 5


def lease_name(isvc: str | None) -> str:
    """The environment's lock (`isvc` given) or the freeze (None)."""
    return f"kfops-lock-{isvc}" if isvc else GLOBAL_LEASE


@dataclass(frozen=True)
class StickyLock:
    """A lock as its Lease says (held or not), for replies and /status."""

    scope: str                  # the environment, or "global"
    namespace: str
    lease: str
    actor: str | None
    pr: str | None
    reason: str
    since: datetime | None

    @property
    def held(self) -> bool:
        return bool(self.actor)

    @property
    def where(self) -> str:
        return f"Lease {self.namespace}/{self.lease}"

    def describe(self) -> str:
        """`@maria (kfops-org/model#7) since 2026-12-06 21:40 UTC: "migrating"`."""
        text = f"@{self.actor}" + (f" ({self.pr})" if self.pr else "")
        if self.since:
            text += f" since {self.since:%Y-%m-%d %H:%M} UTC"
        return text + (f": {self.reason!r}" if self.reason else " (no reason given)")

    def release_hint(self) -> str:
        command = "/unlock --global" if self.scope == GLOBAL else (
            "/unlock" if self.scope == "production" else f"/unlock {self.scope}")
        return (f"@{self.actor} (or a maintainer) comments `{command}` on any pull request; by hand: "
                f"kubectl delete lease -n {self.namespace} {self.lease}")


def _of(lease: Mapping[str, Any] | None, scope: str, namespace: str, name: str) -> StickyLock:
    spec = (lease or {}).get("spec") or {}
    annotations = ((lease or {}).get("metadata") or {}).get("annotations") or {}
    identity = str(spec.get("holderIdentity") or "")
    actor = identity.removeprefix(IDENTITY_PREFIX) if identity.startswith(IDENTITY_PREFIX) else None
    return StickyLock(scope, namespace, name, actor or None, annotations.get(PR) if actor else None,
                      annotations.get(REASON, "") if actor else "", _parse(spec.get("acquireTime")) if actor else None)


class StickyLocks:
    """Read, take and release one namespace's manual locks."""

    def __init__(self, kube: Any, namespace: str) -> None:
        self.kube = kube if isinstance(kube, Kube) else Kube(kube)
        self.namespace = namespace

    def _read(self, name: str) -> dict[str, Any] | None:
        api = self.kube.coordination()
        try:
            return self.kube.call("get", GROUP, PLURAL, self.namespace, name, api.read_namespaced_lease,
                                  name, self.namespace, raw=True)
        except KubeApiError as exc:
            if exc.status == 404 and type(exc) is KubeApiError:
                return None
            raise

    def _write(self, previous: Mapping[str, Any] | None, body: dict[str, Any]) -> None:
        api = self.kube.coordination()
        name = body["metadata"]["name"]
        if previous is None:
            self.kube.call("create", GROUP, PLURAL, self.namespace, name, api.create_namespaced_lease,
                           self.namespace, body, raw=True)
        else:
            self.kube.call("update", GROUP, PLURAL, self.namespace, name, api.replace_namespaced_lease,
                           name, self.namespace, body, raw=True)

    def read(self, scope: str, isvc: str | None) -> StickyLock:
        name = lease_name(isvc)
        return _of(self._read(name), scope, self.namespace, name)

    def take(self, scope: str, isvc: str | None, *, actor: str, pr: str, reason: str,
             repository: str | None = None, workflow_run: str | None = None,
             now: datetime | None = None) -> tuple[StickyLock, bool]:
        """Lock `scope` for `actor`: (the lock, True when it was newly taken). Taking one's own
        lock again updates the reason. Someone else's lock raises LockHeld, naming them."""
        name = lease_name(isvc)
        for _ in range(ATTEMPTS):
            lease = self._read(name)
            current = _of(lease, scope, self.namespace, name)
            if current.held and current.actor != actor:
                raise held_error(current, f"{_scope_text(scope)} is already locked")
            at = _micro(now or datetime.now(timezone.utc))
            spec = {"holderIdentity": IDENTITY_PREFIX + actor, "renewTime": at,
                    "acquireTime": (lease or {}).get("spec", {}).get("acquireTime") if current.held else at}
            annotations = {k: v for k, v in (((lease or {}).get("metadata") or {}).get("annotations") or {}).items()
                           if not k.startswith("kfops/")}
            annotations.update({ACTOR: actor, PR: pr, REASON: reason, SCOPE: scope})
            if repository:
                annotations[REPOSITORY] = repository
            if workflow_run:
                annotations[WORKFLOW_RUN] = workflow_run
            metadata: dict[str, Any] = dict((lease or {}).get("metadata") or {"name": name, "namespace": self.namespace})
            metadata["annotations"] = annotations
            metadata["labels"] = {**(metadata.get("labels") or {}), MANAGED_BY: "kfops"}
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}
            try:
                self._write(lease, body)
            except Conflict:
                continue  # someone wrote it meanwhile (or created it): look again
            return _of(body, scope, self.namespace, name), not current.held
        raise KubeApiError(f"could not write {self.namespace}/{name}: it kept changing",
                           fix="comment again in a moment", status=409)

    def release(self, scope: str, isvc: str | None, *, actor: str, override: bool,
                now: datetime | None = None) -> StickyLock | None:
        """Clear the holder; returns the lock as it was, or None when nothing was held. Another
        person's lock needs `override` (a maintainer); else LockHeld names the holder. The Lease
        stays, with who unlocked it and when, as a record."""
        name = lease_name(isvc)
        for _ in range(ATTEMPTS):
            lease = self._read(name)
            current = _of(lease, scope, self.namespace, name)
            if lease is None or not current.held:
                return None
            if current.actor != actor and not override:
                raise held_error(current, f"{_scope_text(scope)} is held", unlock=True)
            body = {k: v for k, v in lease.items() if k in ("apiVersion", "kind", "metadata", "spec")}
            body["spec"] = {k: v for k, v in dict(lease.get("spec") or {}).items() if k != "holderIdentity"}
            metadata = dict(lease["metadata"])
            metadata["annotations"] = {**(metadata.get("annotations") or {}), UNLOCKED_BY: actor,
                                       UNLOCKED_AT: _micro(now or datetime.now(timezone.utc))}
            body["metadata"] = metadata
            try:
                self._write(lease, body)
            except Conflict:
                continue
            return current
        raise KubeApiError(f"could not write {self.namespace}/{name}: it kept changing",
                           fix="comment again in a moment", status=409)

    def check(self, environment: str, isvc: str, *, actor: str, include_global: bool = True) -> None:
        """Before a deploy (or rollback, undeploy): raise LockHeld when the freeze is on, or when
        someone other than `actor` locked the environment."""
        if include_global:
            frozen = self.read(GLOBAL, None)
            if frozen.held:
                raise held_error(frozen, f"every environment is frozen (/lock --global), so {environment} "
                                         "takes no deploy")
        lock = self.read(environment, isvc)
        if lock.held and lock.actor != actor:
            raise held_error(lock, f"{environment} is locked")


def _scope_text(scope: str) -> str:
    return "the global freeze" if scope == GLOBAL else scope


def held_error(lock: StickyLock, what: str, *, unlock: bool = False) -> LockHeld:
    """Who, since when, why, and how to release it: what a refused command must say."""
    fix = lock.release_hint()
    if unlock:
        fix = (f"ask @{lock.actor} to unlock it, or a maintainer may: "
               + ("`/unlock --global`" if lock.scope == GLOBAL else
                  f"`/unlock{'' if lock.scope == 'production' else ' ' + lock.scope}`"))
    return LockHeld(f"{what} by {lock.describe()}", [Problem("held", lock.where)], fix,
                    holder={"actor": lock.actor or "", "pr": lock.pr or "", "reason": lock.reason,
                            "since": lock.since.isoformat() if lock.since else "", "scope": lock.scope})
