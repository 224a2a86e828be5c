"""The rollout engine against a real kube-apiserver, with a test KServe controller and model server.

Every scenario asserts the cluster's state read back from the API server, not only the result.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from fakes.deploy_fixtures import (admin, checker, endpoint, fast_timeouts, kserve,  # noqa: F401
                                   manifest, namespace, provenance, settings)

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"


def get_isvc(api: Any, namespace: str, name: str = "iris") -> dict[str, Any]:
    from kubernetes import client

    return client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, namespace,
                                                                     PLURAL, name)


def predictor(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["status"]["components"]["predictor"]


def shares(obj: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for entry in predictor(obj)["traffic"]:
        out[entry["revisionName"]] = out.get(entry["revisionName"], 0) + entry["percent"]
    return out


def run(admin, namespace, *, model="s3://models/run-1/model.json", run_id="run-1", check=None,  # noqa: F811
        timeouts=None, settings_extra=None, annotations=None, name="iris", **kwargs):
    from kfops_action.deploy import deploy

    return deploy(admin, environment="production",
                  settings=settings(namespace, name, **(settings_extra or {})),
                  manifest=manifest(namespace, name, model, annotations),
                  provenance=provenance(run_id), check=check,
                  timeouts=timeouts or fast_timeouts(), **kwargs)


class SpyCheck:
    """Wraps the real checker and records the cluster's state at the moment of the check."""

    def __init__(self, admin, namespace, inner) -> None:  # noqa: F811
        self.admin, self.namespace, self.inner = admin, namespace, inner
        self.seen: list[dict[str, Any]] = []
        self.needs_revision_url = inner.needs_revision_url

    def __call__(self, target):
        self.seen.append(get_isvc(self.admin, self.namespace))
        return self.inner(target)


def test_first_deploy_creates_waits_ready_and_annotates(admin, namespace, kserve, endpoint) -> None:  # noqa: F811
    result = run(admin, namespace, check=checker())

    assert result.succeeded and result.strategy == "create" and result.canary_percent is None
    assert result.revision_after == "iris-predictor-00001"
    live = get_isvc(admin, namespace)
    annotations = live["metadata"]["annotations"]
    assert annotations["kfops/pull-request"] == "acme/iris#7"
    assert annotations["kfops/commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert annotations["kfops/run-id"] == "run-1"
    assert annotations["kfops/actor"] == "alice"
    assert annotations["kfops/environment"] == "production"
    assert annotations["serving.kserve.io/enable-tag-routing"] == "true"
    assert live["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kfops"
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]
    assert shares(live) == {"iris-predictor-00001": 100}
    # the check went to the new revision's own (tagged) URL, with the sample
    hits = endpoint.hits("iris-predictor-00001")
    assert hits and hits[0]["path"].endswith("/v1/models/iris:predict")
    assert hits[0]["body"].startswith(b'{"instances"')
    # the lock was released but keeps a record of the last holder
    from kubernetes import client

    lease = client.CoordinationV1Api(admin).read_namespaced_lease("kfops-deploy-iris", namespace)
    assert lease.spec.holder_identity is None
    assert lease.metadata.annotations["kfops/run-id"] == "run-1"
    assert [s.name for s in result.steps] == ["lock", "read", "create", "wait ready", "endpoint check"]


def test_second_deploy_canaries_at_10_then_promotes(admin, namespace, kserve, endpoint) -> None:  # noqa: F811
    run(admin, namespace, check=checker())
    spy = SpyCheck(admin, namespace, checker())
    result = run(admin, namespace, model="s3://models/run-2/model.json", run_id="run-2", check=spy)

    assert result.succeeded and result.strategy == "canary" and result.canary_percent == 10
    assert (result.revision_before, result.revision_after) == ("iris-predictor-00001",
                                                               "iris-predictor-00002")
    # during the check, the spec asked for 10% and the status showed the split
    during = spy.seen[0]
    assert during["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert shares(during) == {"iris-predictor-00002": 10, "iris-predictor-00001": 90}
    assert endpoint.hits("iris-predictor-00002"), "the check must hit the canary revision"
    # promoted: the field is gone on the server, 100% on the new revision, recorded as rolled out
    live = get_isvc(admin, namespace)
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]
    assert live["spec"]["predictor"]["containers"][0]["env"][0]["value"] == "s3://models/run-2/model.json"
    assert shares(live) == {"iris-predictor-00002": 100}
    assert predictor(live)["latestRolledoutRevision"] == "iris-predictor-00002"
    assert live["metadata"]["annotations"]["kfops/run-id"] == "run-2"
    assert [s.name for s in result.steps][2:] == [
        "new revision", "wait new revision ready", "canary", "wait canary traffic",
        "endpoint check", "promote", "wait promoted"]
    assert "passed a 10% canary" in result.message


def test_failed_endpoint_check_rolls_back_to_previous_revision(admin, namespace, kserve,  # noqa: F811
                                                                endpoint) -> None:  # noqa: F811
    from kfops_action.deploy import RolloutFailed

    run(admin, namespace, check=checker())
    endpoint.script("iris-predictor-00002", "error")
    with pytest.raises(RolloutFailed) as info:
        run(admin, namespace, model="s3://models/run-2/model.json", run_id="run-2", check=checker())

    error, result = info.value, info.value.result
    assert result.rolled_back and not result.succeeded
    assert "endpoint check" in error.what and "HTTP 500" in error.what
    assert "rolled back" in error.what and "iris-predictor-00001" in error.what
    assert any("serving now: 100% -> iris-predictor-00001" in str(p) for p in error.problems)
    assert len(endpoint.hits("iris-predictor-00002")) == 2  # 1 + retries
    live = get_isvc(admin, namespace)
    assert live["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert shares(live) == {"iris-predictor-00001": 100, "iris-predictor-00002": 0}
    assert "promote" not in [s.name for s in result.steps]
    # the next deploy starts a fresh canary against the revision still serving
    later = run(admin, namespace, model="s3://models/run-3/model.json", run_id="run-3",
                check=checker())
    assert later.succeeded and later.canary_percent == 10
    assert later.revision_before == "iris-predictor-00001"
    assert shares(get_isvc(admin, namespace)) == {"iris-predictor-00003": 100}


def test_revision_never_ready_times_out_and_rolls_back(admin, namespace, kserve, endpoint) -> None:  # noqa: F811
    from kfops_action.deploy import RolloutFailed

    run(admin, namespace, check=checker())
    kserve.revision_state["iris-predictor-00002"] = "pending"
    started = time.monotonic()
    with pytest.raises(RolloutFailed) as info:
        run(admin, namespace, model="s3://models/run-2/model.json", run_id="run-2",
            check=checker(), timeouts=fast_timeouts(ready=1.0))

    assert time.monotonic() - started < 8
    assert "timed out after 1 s" in info.value.what
    assert "iris-predictor-00002 to become ready" in info.value.what
    assert info.value.result.rolled_back
    live = get_isvc(admin, namespace)
    assert live["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert shares(live) == {"iris-predictor-00001": 100}
    assert not endpoint.hits("iris-predictor-00002")


def test_failed_revision_is_reported_without_waiting_for_the_timeout(admin, namespace, kserve,  # noqa: F811
                                                                     endpoint) -> None:  # noqa: F811
    from kfops_action.deploy import RolloutFailed

    run(admin, namespace)
    kserve.revision_state["iris-predictor-00002"] = "failed"
    started = time.monotonic()
    with pytest.raises(RolloutFailed) as info:
        run(admin, namespace, model="s3://models/run-2/model.json", run_id="run-2",
            timeouts=fast_timeouts(ready=30.0))
    assert time.monotonic() - started < 10
    assert "RevisionFailed" in info.value.what
    assert shares(get_isvc(admin, namespace)) == {"iris-predictor-00001": 100}


def test_full_rollout_then_failed_check_rolls_back_in_two_passes(admin, namespace, kserve,  # noqa: F811
                                                                 endpoint) -> None:  # noqa: F811
    """canary_percent 100: no canary is claimed; the rollback after 100% still restores the old one."""
    from kfops_action.deploy import RolloutFailed

    run(admin, namespace, check=checker())
    endpoint.script("iris-predictor-00002", "error")
    with pytest.raises(RolloutFailed) as info:
        run(admin, namespace, model="s3://models/run-2/model.json", run_id="run-2",
            check=checker(), settings_extra={"canary_percent": 100})
    result = info.value.result
    assert result.strategy == "rollout" and result.canary_percent is None
    assert result.rolled_back
    live = get_isvc(admin, namespace)
    assert predictor(live)["latestRolledoutRevision"] == "iris-predictor-00001"
    assert shares(live)["iris-predictor-00001"] == 100


def test_without_an_endpoint_check_the_report_says_it_was_skipped(admin, namespace, kserve) -> None:  # noqa: F811
    run(admin, namespace)
    result = run(admin, namespace, model="s3://models/run-2/model.json", run_id="run-2")
    check_step = next(s for s in result.steps if s.name == "endpoint check")
    assert "skipped" in check_step.detail
    assert result.succeeded and result.canary_percent == 10
    assert "endpoint check" not in result.message


RAW = {"serving.kserve.io/deploymentMode": "RawDeployment"}


def test_raw_deployment_refuses_a_canary_and_changes_nothing(admin, namespace, kserve,  # noqa: F811
                                                             endpoint) -> None:  # noqa: F811
    from kfops_action.deploy import ModeRefused

    first = run(admin, namespace, annotations=RAW, check=checker())
    assert first.succeeded and first.mode == "Standard" and first.canary_percent is None
    before = get_isvc(admin, namespace)
    with pytest.raises(ModeRefused) as info:
        run(admin, namespace, model="s3://models/run-2/model.json", run_id="run-2",
            annotations=RAW, check=checker())
    assert "ignores canaryTrafficPercent" in info.value.what
    assert "raw_deployment: replace" in info.value.fix
    assert info.value.result is not None and info.value.result.canary_percent is None
    after = get_isvc(admin, namespace)
    assert after["spec"] == before["spec"]
    assert after["metadata"]["annotations"]["kfops/run-id"] == "run-1"


def test_raw_deployment_replace_checks_a_candidate_then_replaces(admin, namespace, kserve,  # noqa: F811
                                                                 endpoint) -> None:  # noqa: F811
    run(admin, namespace, annotations=RAW)
    result = run(admin, namespace, model="s3://models/run-2/model.json", run_id="run-2",
                 annotations=RAW, check=checker(), settings_extra={"raw_deployment": "replace"})

    assert result.succeeded and result.strategy == "replace" and result.canary_percent is None
    assert "no canary" in result.message and "iris-candidate" in result.message
    hits = endpoint.hits("iris-candidate")
    assert hits and hits[0]["path"].endswith("/v1/models/iris:predict")  # the template's model name
    live = get_isvc(admin, namespace)
    assert live["spec"]["predictor"]["containers"][0]["env"][0]["value"] == "s3://models/run-2/model.json"
    from kubernetes.client.rest import ApiException

    with pytest.raises(ApiException) as gone:
        get_isvc(admin, namespace, "iris-candidate")
    assert gone.value.status == 404


def test_raw_deployment_replace_keeps_production_when_the_candidate_fails(admin, namespace,  # noqa: F811
                                                                          kserve, endpoint) -> None:  # noqa: F811
    from kfops_action.deploy import RolloutFailed

    run(admin, namespace, annotations=RAW)
    endpoint.script("iris-candidate", "error")
    with pytest.raises(RolloutFailed) as info:
        run(admin, namespace, model="s3://models/run-2/model.json", run_id="run-2",
            annotations=RAW, check=checker(), settings_extra={"raw_deployment": "replace"})
    assert "was not changed" in info.value.what
    live = get_isvc(admin, namespace)
    assert live["spec"]["predictor"]["containers"][0]["env"][0]["value"] == "s3://models/run-1/model.json"


def test_first_deploy_that_fails_its_check_is_deleted(admin, namespace, kserve, endpoint) -> None:  # noqa: F811
    from kfops_action.deploy import RolloutFailed

    endpoint.script("iris-predictor-00001", "error")
    with pytest.raises(RolloutFailed) as info:
        run(admin, namespace, check=checker())
    assert "deleted the InferenceService" in info.value.what
    from kubernetes.client.rest import ApiException

    with pytest.raises(ApiException) as gone:
        get_isvc(admin, namespace)
    assert gone.value.status == 404


def test_limited_token_gets_a_403_naming_verb_resource_namespace(kube_api, admin, namespace) -> None:  # noqa: F811
    from kfops_action.deploy import Forbidden

    limited = kube_api.api_client(kube_api.limited_token)
    with pytest.raises(Forbidden) as info:
        run(limited, namespace)
    text = str(info.value)
    assert "not allowed to get leases" in text and repr(namespace) in text
    assert "leases.coordination.k8s.io" in text and "--user=limited" in text

    # with the lock allowed, the InferenceService is what is refused, named the same way
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role(namespace, {
        "metadata": {"name": "lease-only"},
        "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                   "verbs": ["get", "create", "update"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "lease-only"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "lease-only"},
        "subjects": [{"kind": "User", "name": "limited", "apiGroup": "rbac.authorization.k8s.io"}]})
    deadline = time.monotonic() + 5
    while True:  # RBAC caches: the grant is visible within a moment
        with pytest.raises(Forbidden) as info:
            run(limited, namespace)
        if "leases" in info.value.what and time.monotonic() < deadline:
            time.sleep(0.1)
            continue
        break
    assert "not allowed to get inferenceservices" in info.value.what
    assert "inferenceservices.serving.kserve.io" in str(info.value)
    assert info.value.result is not None and info.value.result.steps[-1].name == "read"


def test_missing_namespace_is_named(admin) -> None:  # noqa: F811
    from kfops_action.deploy import NamespaceMissing

    with pytest.raises(NamespaceMissing) as info:
        run(admin, "no-such-namespace")
    assert "namespace 'no-such-namespace' does not exist" in info.value.what
    assert "kubectl create namespace no-such-namespace" in info.value.fix


def test_invalid_manifest_shows_the_api_servers_message(admin, namespace, kserve) -> None:  # noqa: F811
    from kfops_action.deploy import Invalid

    bad = manifest(namespace)
    bad["metadata"]["labels"]["team"] = "not a valid label value!"
    from kfops_action.deploy import deploy

    with pytest.raises(Invalid) as info:
        deploy(admin, environment="production", settings=settings(namespace), manifest=bad,
               provenance=provenance(), timeouts=fast_timeouts())
    text = str(info.value)
    assert "HTTP 422" in text and "metadata.labels" in text
    assert info.value.exit_code == 2
    from kubernetes import client

    lease = client.CoordinationV1Api(admin).read_namespaced_lease("kfops-deploy-iris", namespace)
    assert lease.spec.holder_identity is None  # the lock is released after a failure too


def test_update_retries_on_resource_version_conflicts(admin, namespace, kserve) -> None:  # noqa: F811
    from kubernetes import client

    from kfops_action.deploy.isvc import IsvcApi
    from kfops_action.deploy.kube import Kube

    run(admin, namespace)
    isvcs = IsvcApi(Kube(admin))
    calls: list[str] = []

    def make_patch(current: dict[str, Any]) -> dict[str, Any]:
        calls.append(current["metadata"]["resourceVersion"])
        if len(calls) == 1:  # another writer changes the object after our read
            other = client.CustomObjectsApi(admin)
            other.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "iris",
                                                 {"metadata": {"labels": {"other": "writer"}}})
        return {"metadata": {"labels": {"mine": "yes"}}}

    _, after = isvcs.update(namespace, "iris", make_patch)
    assert len(calls) >= 2 and calls[0] != calls[1]
    assert after["metadata"]["labels"]["other"] == "writer"
    assert after["metadata"]["labels"]["mine"] == "yes"


def test_after_a_rollback_the_rejected_revision_gets_no_traffic_while_the_next_one_starts(
        admin, namespace, kserve, endpoint) -> None:  # noqa: F811
    """Knative's `latestRevision: true` means the latest READY revision: after a rollback that is
    the rejected one. The next deploy must not hand it the canary share while its own revision
    is still starting (which a direct `canaryTrafficPercent: 10` patch would)."""
    import threading

    from kfops_action.deploy import RolloutFailed

    run(admin, namespace, check=checker())
    endpoint.script("iris-predictor-00002", "error")
    with pytest.raises(RolloutFailed):
        run(admin, namespace, model="s3://models/bad/model.json", run_id="run-2", check=checker())
    kserve.revision_state["iris-predictor-00003"] = "pending"
    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(run(
        admin, namespace, model="s3://models/run-3/model.json", run_id="run-3", check=checker())))
    worker.start()
    seen: list[dict[str, int]] = []
    deadline = time.monotonic() + 0.8
    while time.monotonic() < deadline:
        obj = get_isvc(admin, namespace)
        if obj["status"]["components"]["predictor"].get("latestCreatedRevision") == "iris-predictor-00003":
            seen.append(shares(obj))
        time.sleep(0.02)
    kserve.revision_state["iris-predictor-00003"] = "ready"
    worker.join(timeout=10)
    assert outcome and outcome[0].succeeded and outcome[0].canary_percent == 10
    assert seen, "the new revision was never observed starting"
    assert all(s.get("iris-predictor-00002", 0) == 0 for s in seen), seen
    assert shares(get_isvc(admin, namespace)) == {"iris-predictor-00003": 100}


def test_readiness_is_detected_within_two_seconds_at_the_default_poll(admin, namespace, kserve) -> None:  # noqa: F811
    """One GET a second (the default) notices the new revision's readiness well within 2 s."""
    import threading

    from kfops_action.deploy import Timeouts

    run(admin, namespace)
    kserve.revision_state["iris-predictor-00002"] = "pending"
    finished: dict[str, float] = {}
    worker = threading.Thread(target=lambda: run(
        admin, namespace, model="s3://models/run-2/model.json", run_id="run-2",
        timeouts=Timeouts(ready=20, promote=20, rollback=20),  # poll: the default 1 s
        on_step=lambda step: finished.setdefault(step.name, time.monotonic())))
    worker.start()
    time.sleep(1.3)
    flipped = time.monotonic()
    kserve.revision_state["iris-predictor-00002"] = "ready"
    worker.join(timeout=30)
    assert Timeouts().poll == 1.0
    assert finished["wait new revision ready"] - flipped < 2.0


def test_raw_deployment_replace_that_never_gets_ready_restores_the_previous_spec(
        admin, namespace, kserve, endpoint) -> None:  # noqa: F811
    from kfops_action.deploy import RolloutFailed

    run(admin, namespace, annotations=RAW)

    def on_step(step: Any) -> None:  # the real service breaks after the replace, heals after restore
        if step.name == "replace":
            kserve.standard_state["iris"] = "pending"
        if step.name == "rollback: restore spec":
            kserve.standard_state["iris"] = "ready"

    with pytest.raises(RolloutFailed) as info:
        run(admin, namespace, model="s3://models/run-2/model.json", run_id="run-2",
            annotations=RAW, check=checker(), settings_extra={"raw_deployment": "replace"},
            timeouts=fast_timeouts(ready=1.0), on_step=on_step)
    assert info.value.result.rolled_back
    assert "the previous spec was restored" in info.value.what
    live = get_isvc(admin, namespace)
    assert live["spec"]["predictor"]["containers"][0]["env"][0]["value"] == "s3://models/run-1/model.json"
    assert live["metadata"]["annotations"]["kfops/run-id"] == "run-1"
