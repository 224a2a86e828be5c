"""One deploy per environment: the Lease lock against a real kube-apiserver."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from fakes.deploy_fixtures import (admin, endpoint, fast_timeouts, kserve, manifest,  # noqa: F401
                                   namespace, provenance, settings)

OTHER = {"kfops/pull-request": "acme/iris#41", "kfops/run-id": "run-41", "kfops/actor": "bob",
         "kfops/environment": "production"}


def lease_body(namespace: str, *, renewed: datetime, holder: str = "kfops/production/other",
               duration: int = 600) -> dict[str, Any]:
    stamp = renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"metadata": {"name": "kfops-deploy-iris", "namespace": namespace, "annotations": OTHER},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                     "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 3}}


def leases(api: Any) -> Any:
    from kubernetes import client

    return client.CoordinationV1Api(api)


def make_lock(api: Any, namespace: str, **kwargs: Any) -> Any:
    from kfops_action.deploy.annotations import provenance_annotations
    from kfops_action.deploy.kube import Kube
    from kfops_action.deploy.lock import DeployLock

    annotations = provenance_annotations(provenance(kwargs.pop("run", "run-1")),
                                         environment="production")
    return DeployLock(Kube(api), namespace, "iris", annotations=annotations,
                      environment="production", poll_interval=0.05, **kwargs)


def test_a_live_lock_refuses_the_deploy_naming_the_holder(admin, namespace) -> None:  # noqa: F811
    from kfops_action.deploy import LockHeld, deploy

    leases(admin).create_namespaced_lease(namespace, lease_body(
        namespace, renewed=datetime.now(timezone.utc)))
    with pytest.raises(LockHeld) as info:
        deploy(admin, environment="production", settings=settings(namespace),
               manifest=manifest(namespace), provenance=provenance(), timeouts=fast_timeouts())
    text = str(info.value)
    assert "another deploy to production is in progress" in text
    assert "PR acme/iris#41" in text and "run run-41" in text and "by bob" in text
    assert f"kubectl delete lease -n {namespace} kfops-deploy-iris" in text
    assert info.value.holder["actor"] == "bob"
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    with pytest.raises(ApiException) as gone:  # nothing was deployed
        client.CustomObjectsApi(admin).get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices", "iris")
    assert gone.value.status == 404
    # the other holder's lease is untouched
    assert leases(admin).read_namespaced_lease("kfops-deploy-iris", namespace) \
        .spec.holder_identity == "kfops/production/other"


def test_an_expired_lock_is_taken_over(admin, namespace, kserve) -> None:  # noqa: F811
    from kfops_action.deploy import deploy

    leases(admin).create_namespaced_lease(namespace, lease_body(
        namespace, renewed=datetime.now(timezone.utc) - timedelta(hours=2)))
    result = deploy(admin, environment="production", settings=settings(namespace),
                    manifest=manifest(namespace), provenance=provenance(), timeouts=fast_timeouts())
    assert result.succeeded
    assert "took over an expired lock of PR acme/iris#41" in result.steps[0].detail
    lease = leases(admin).read_namespaced_lease("kfops-deploy-iris", namespace)
    assert lease.spec.lease_transitions == 4
    assert lease.metadata.annotations["kfops/run-id"] == "run-1"
    assert lease.metadata.annotations["kfops/actor"] == "alice"


def test_a_waiting_deploy_gets_the_lock_when_the_holder_releases_it(admin, namespace) -> None:  # noqa: F811
    first = make_lock(admin, namespace, run="run-1")
    first.acquire()
    second = make_lock(admin, namespace, run="run-2", wait=5.0)
    releaser = threading.Timer(0.3, first.release)
    releaser.start()
    started = time.monotonic()
    second.acquire()
    assert 0.2 < time.monotonic() - started < 5
    lease = leases(admin).read_namespaced_lease("kfops-deploy-iris", namespace)
    assert lease.spec.holder_identity == second.identity
    assert lease.metadata.annotations["kfops/run-id"] == "run-2"
    second.release()


def test_two_deploys_racing_for_a_free_lock_one_wins(admin, namespace) -> None:  # noqa: F811
    from kfops_action.deploy import LockHeld

    locks = [make_lock(admin, namespace, run=f"run-{i}") for i in range(4)]
    barrier = threading.Barrier(len(locks))
    outcomes: list[str] = []

    def contend(lock: Any) -> None:
        barrier.wait()
        try:
            lock.acquire()
            outcomes.append("won")
        except LockHeld:
            outcomes.append("refused")

    threads = [threading.Thread(target=contend, args=(lock,)) for lock in locks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(outcomes) == ["refused"] * 3 + ["won"]
    winner = next(lock for lock in locks if lock.held)
    assert leases(admin).read_namespaced_lease("kfops-deploy-iris", namespace) \
        .spec.holder_identity == winner.identity


def test_renewal_notices_a_lost_lock(admin, namespace) -> None:  # noqa: F811
    from kfops_action.deploy import LockLost

    lock = make_lock(admin, namespace)
    lock.acquire()
    stolen = leases(admin).read_namespaced_lease("kfops-deploy-iris", namespace)
    stolen.spec.holder_identity = "kfops/production/someone-else"
    leases(admin).replace_namespaced_lease("kfops-deploy-iris", namespace, stolen)
    with pytest.raises(LockLost):
        lock.renew(force=True)
    lock.release()  # not ours any more: left alone
    assert leases(admin).read_namespaced_lease("kfops-deploy-iris", namespace) \
        .spec.holder_identity == "kfops/production/someone-else"


def test_renewal_pushes_the_expiry_forward(admin, namespace) -> None:  # noqa: F811
    lock = make_lock(admin, namespace, duration=60)
    lock.acquire()
    first = leases(admin).read_namespaced_lease("kfops-deploy-iris", namespace).spec.renew_time
    time.sleep(0.01)
    lock.renew(force=True)
    second = leases(admin).read_namespaced_lease("kfops-deploy-iris", namespace).spec.renew_time
    assert second > first
    lock.release()


def test_the_lock_is_renewed_while_the_deploy_waits(admin, namespace, kserve) -> None:  # noqa: F811
    """A lease shorter than the deploy stays ours: the engine renews it from its wait loop."""
    from kfops_action.deploy import LockHeld, deploy

    deploy(admin, environment="production", settings=settings(namespace),
           manifest=manifest(namespace), provenance=provenance(), timeouts=fast_timeouts())
    kserve.revision_state["iris-predictor-00002"] = "pending"
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(deploy(
        admin, environment="production", settings=settings(namespace),
        manifest=manifest(namespace, model="s3://models/run-2/model.json"),
        provenance=provenance("run-2"), timeouts=fast_timeouts(lock_duration=1.0, ready=10))))
    worker.start()
    time.sleep(2.5)  # well past the 1 s lease: only renewal keeps it
    contender = make_lock(admin, namespace, run="run-3")
    with pytest.raises(LockHeld):
        contender.acquire()
    kserve.revision_state["iris-predictor-00002"] = "ready"
    worker.join(timeout=10)
    assert result and result[0].succeeded
