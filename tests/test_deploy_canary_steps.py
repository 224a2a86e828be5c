"""Canaries past the single step: KServe v0.20's `spec.canary` in Standard (RawDeployment) mode, and
multi-step canaries (`canary_steps: [10, 50, 100]`) in both modes, from a PR comment to the
cluster and back to the PR.

The real dispatcher and handlers; the fake GitHub (behind Prism for some tests); the real
kube-apiserver with KServe's CRD and the controller stand-in (tests/fakes/kserve_controller.py,
which also records anything KServe's validation webhook would reject: the `kserve` fixture asserts
there is nothing); a model server on loopback answering the endpoint checks.

The test-infra CRD predates v0.20 (a minimal CRD with no spec properties), so the tests that need
a KServe with `spec.canary` use `canary_crd`: the same CRD with `spec.canary` added as KServe v0.20
has it (kserve#5672, shared notes 1.7), restored afterwards. The old CRD's behaviour (refuse, with
the reason) is tested too.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from fakes.action_flow import EXAMPLE, NUMBER
from fakes.deploy_fixtures import admin, endpoint, fast_timeouts, kserve, namespace  # noqa: F401
from fakes.deploy_world import ISVC, World, mlmd, world  # noqa: F401
from fakes.github_prism import github  # noqa: F401
from fakes.kserve_controller import MODE, FakeKServe

from kfops_action.chatops import dispatch as d
from kfops_action.deploy.canary_plan import plan_from_settings
from kfops_action.deploy.canary_support import CRD_NAME, support_from_crd
from kfops_action.deploy.errors import DeployError

via_prism = pytest.mark.parametrize("github", ["prism"], indirect=True)
STEPS = [10, 50, 100]


# -- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture
def canary_crd(admin: Any) -> Iterator[None]:  # noqa: F811
    """TEST VARIANT of the test-infra CRD: `spec.canary` added (KServe v0.20, kserve#5672) so the
    cluster looks like one whose KServe supports Standard-mode canaries. Restored afterwards."""
    from kubernetes import client

    api = client.ApiextensionsV1Api(admin)
    original = api.read_custom_resource_definition(CRD_NAME)
    body = admin.sanitize_for_serialization(original)
    saved = copy.deepcopy(body["spec"]["versions"])
    for version in body["spec"]["versions"]:
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        spec["properties"] = {"canary": {"type": "array", "items": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True,
            "required": ["predictor"],
            "properties": {"predictor": {"type": "object",
                                         "x-kubernetes-preserve-unknown-fields": True},
                           "trafficPercent": {"type": "integer", "minimum": 0,
                                              "maximum": 100}}}}}
    api.patch_custom_resource_definition(CRD_NAME, {"spec": {"versions": body["spec"]["versions"]}})
    try:
        yield
    finally:
        api.patch_custom_resource_definition(CRD_NAME, {"spec": {"versions": saved}})


def configure(world: World, *, standard: bool = True, **production: Any) -> None:
    """`deployment.production` on the base branch. In Standard mode the endpoint check goes to the
    loopback model server, keyed by the target's host (the canary Service's in-cluster host); in
    Knative mode to the revision URL the status reports, as by default."""
    data = yaml.safe_load(world.base)
    section = data["deployment"]["production"]
    if standard:
        section["endpoint_check"]["url"] = (world.endpoint.base
                                            + "/svc/{{ host }}/v1/models/{{ name }}:predict")
    section.update(production)
    world.base = yaml.safe_dump(data, sort_keys=False)
    world.fake.add_file("kfops.yaml", world.base, ref="main")


def standard_template(world: World) -> None:
    """The example template on the base branch, in Standard mode (as a team running RawDeployment
    writes it)."""
    text = (EXAMPLE / "inference-service.yaml").read_text()
    text = text.replace("  labels:\n", f"  annotations:\n    {MODE}: Standard\n  labels:\n", 1)
    world.fake.add_file("inference-service.yaml", text, ref="main")


def serve_standard(world: World) -> None:
    """What production serves before the PR: a Standard-mode InferenceService of an earlier run."""
    from kfops_action.deploy import deploy
    from kfops_action.deploy.template import TemplateValues, load_manifest

    run_id = f"run-prod-{uuid.uuid4().hex[:8]}"
    world.seed_model(run_id, 0.90)   # the metrics gate compares with it
    manifest = load_manifest("inference-service.yaml", EXAMPLE,
                             TemplateValues(ISVC, world.namespace, f"s3://models/{run_id}/model", 10))
    manifest["metadata"].setdefault("annotations", {})[MODE] = "Standard"
    deploy(world.kube_api.api_client(), environment="production",
           settings={"namespace": world.namespace, "inference_service": ISVC}, manifest=manifest,
           provenance={"pr": "kfops-org/model#3", "commit": "c" * 40, "run_id": run_id,
                       "actor": "maria"}, timeouts=fast_timeouts())


def canary_host(world: World) -> str:
    return f"{ISVC}-kfops-{world.head[:7]}-predictor.{world.namespace}.svc.cluster.local"


def model_uri(obj: dict[str, Any] | None) -> str:
    env = (obj or {})["spec"]["predictor"]["containers"][0]["env"]
    return next(e["value"] for e in env if e["name"] == "STORAGE_URI")


def serving(obj: dict[str, Any] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for entry in (obj or {})["status"]["components"]["predictor"]["traffic"]:
        out[entry["revisionName"]] = out.get(entry["revisionName"], 0) + entry["percent"]
    return {k: v for k, v in out.items() if v}


def seen_shares(kserve: FakeKServe) -> list[int]:  # noqa: F811
    """The canary shares the controller saw, in order; each write held exactly one canary."""
    assert all(len(w) == 1 for w in kserve.canary_writes), kserve.canary_writes
    shares = [w[0]["trafficPercent"] for w in kserve.canary_writes]
    assert shares == sorted(shares), shares
    return shares


def comment_edits(world: World) -> list[str]:
    """Every body kfops wrote into comments, in order (posts and edits)."""
    out = []
    for r in world.fake.requests:
        if r.method in ("POST", "PATCH") and "/comments" in r.path and isinstance(r.body, dict):
            out.append(str(r.body.get("body", "")))
    return out


# -- Standard mode with spec.canary ------------------------------------------------------------------


def canary_conversation(world: World, kserve: FakeKServe) -> str:  # noqa: F811
    """/deploy on a Standard-mode InferenceService whose KServe has spec.canary, three steps."""
    import docs_capture

    standard_template(world)
    configure(world, canary_steps=STEPS, canary_pause=0.2)
    serve_standard(world)
    before = world.isvc()
    record = world.seed_record()

    outcome = world.comment("/deploy")
    body = world.body()
    assert outcome.outcome == d.SUCCEEDED, body

    # what the cluster holds: the canary's predictor became spec.predictor, no canary is left
    live = world.isvc()
    name = f"kfops-{world.head[:7]}"
    assert live["spec"]["predictor"]["name"] == name
    assert "canary" not in live["spec"]
    assert live["spec"]["predictor"]["minReplicas"] == 1     # autoscaling back once promoted
    assert model_uri(live) != model_uri(before) and record.run_id in model_uri(live)
    assert live["metadata"]["annotations"]["kfops/run-id"] == record.run_id
    assert "canaryStatuses" not in live["status"]
    # what KServe saw (a controller may skip a state between two passes): one canary, webhook-clean
    assert seen_shares(kserve)[0] == 10 and set(seen_shares(kserve)) <= set(STEPS)
    assert all(c["predictor"]["name"] == name and "minReplicas" not in c["predictor"]
               for w in kserve.canary_writes for c in w)
    # the endpoint check went to the canary's own Service, once per step
    assert len(world.endpoint.hits(canary_host(world))) == 3
    # what the PR shows
    for step in ("canary step 1/3 (10%)", "canary step 2/3 (50%)", "canary step 3/3 (100%)",
                 "endpoint check at 50%", "pause", "promote"):
        assert step in body, step
    assert f"the canary {name} passed 10% -> 50% -> 100% and the endpoint check" in body
    assert world.fake.pulls[NUMBER].merged
    # the status comment showed each step's check as it passed, before the next step
    edits = comment_edits(world)
    assert any("endpoint check at 10%" in e and "canary step 2/3" not in e for e in edits)
    assert any("endpoint check at 50%" in e and "canary step 3/3" not in e for e in edits)

    urls = {world.fake_kfp.url: docs_capture.KFP, world.namespace: "models",
            world.endpoint.base: "https://models.example.com"}
    shown = docs_capture.normalise(body, head=world.head, urls=urls)
    shown = re.sub(r"\brun-[0-9a-f]{8}\b", "run-5f3a9c1e", shown)
    shown = re.sub(r"\| `\d+\.\d` \|", "| `0.2` |", shown)
    shown = re.sub(r"\brun-prod-[0-9a-f]{8}\b", "run-4e1b7d20", shown)
    shown = re.sub(r"resourceVersion \d+", "resourceVersion 1873", shown)
    return ("With `canary_steps: [10, 50, 100]` and `canary_pause: 60` (shortened here) on a "
            "Standard-mode InferenceService whose KServe has `spec.canary`:\n\n"
            "**@maria** commented:\n\n> /deploy\n\n**kfops** answered:\n\n"
            + docs_capture.quote(shown) + "\n")


def test_standard_mode_canary_walks_the_steps_and_promotes(world: World, kserve: FakeKServe,  # noqa: F811
                                                           canary_crd: None) -> None:
    from test_docs import check_block

    content = canary_conversation(world, kserve)
    assert "127.0.0.1" not in content
    check_block("commands.md", "canary-conversation", content)


@via_prism
def test_standard_canary_failing_at_the_second_step_rolls_back(world: World, kserve: FakeKServe,  # noqa: F811
                                                               canary_crd: None) -> None:
    standard_template(world)
    configure(world, canary_steps=STEPS)
    serve_standard(world)
    before = world.isvc()
    world.seed_record()
    world.endpoint.script(canary_host(world), "ok", "error")

    outcome = world.comment("/deploy")
    body = world.body()
    assert outcome.outcome == d.FAILED and outcome.exit_code == 1, body
    assert "failed at canary step 2/3 (50%)" in body and "failed the endpoint check" in body
    assert "rolled back: spec.canary removed, the stable predictor serves as before" in body
    live = world.isvc()
    assert "canary" not in live["spec"] and "name" not in live["spec"]["predictor"]
    assert model_uri(live) == model_uri(before)
    assert seen_shares(kserve)[0] == 10 and 100 not in seen_shares(kserve)
    assert not world.fake.pulls[NUMBER].merged and world.merges() == []


def test_standard_canary_that_never_becomes_ready_rolls_back(world: World, kserve: FakeKServe,  # noqa: F811
                                                             canary_crd: None) -> None:
    standard_template(world)
    configure(world, canary_percent=10)
    serve_standard(world)
    world.seed_record()
    kserve.canary_state[f"kfops-{world.head[:7]}"] = "pending"

    outcome = world.comment("/deploy")
    body = world.body()
    assert outcome.outcome == d.FAILED, body
    assert "wait canary ready" in body and "CanaryPredictorReady=False" in body
    assert "timed out" in body and "rolled back" in body
    assert "canary" not in world.isvc()["spec"]
    assert world.endpoint.hits(canary_host(world)) == []


def test_standard_promotion_that_never_becomes_ready_restores_the_previous_predictor(
        world: World, kserve: FakeKServe, canary_crd: None) -> None:  # noqa: F811
    standard_template(world)
    configure(world, canary_percent=10)
    serve_standard(world)
    before = world.isvc()
    world.seed_record()
    kserve.standard_state[f"kfops-{world.head[:7]}"] = "pending"   # once it is spec.predictor

    outcome = world.comment("/deploy")
    body = world.body()
    assert outcome.outcome == d.FAILED, body
    assert "wait promoted" in body and "rolled back: the previous spec.predictor was restored" in body
    live = world.isvc()
    assert "name" not in live["spec"]["predictor"] and "canary" not in live["spec"]
    assert model_uri(live) == model_uri(before)
    assert live["metadata"]["annotations"]["kfops/run-id"] == \
        before["metadata"]["annotations"]["kfops/run-id"]
    assert not world.fake.pulls[NUMBER].merged


def test_old_crd_without_spec_canary_still_refuses_with_the_reason(world: World) -> None:
    standard_template(world)
    configure(world)
    serve_standard(world)
    before = world.isvc()
    world.seed_record()

    outcome = world.comment("/deploy")
    body = world.body()
    assert outcome.outcome == d.FAILED, body
    assert "where KServe ignores canaryTrafficPercent" in body
    assert f"the CRD {CRD_NAME} has no spec.canary" in body
    assert "raw_deployment: replace" in body and "v0.20" in body
    assert world.isvc()["spec"] == before["spec"]


# -- Knative mode, several steps -----------------------------------------------------------------------


def test_knative_canary_steps_promote_after_every_check(world: World) -> None:
    configure(world, standard=False, canary_steps=[10, 50], canary_pause=0.1)
    world.serve_in_production()
    world.seed_record()

    outcome = world.comment("/deploy")
    body = world.body()
    assert outcome.outcome == d.SUCCEEDED, body
    assert "passed the canary steps 10% -> 50% and the endpoint check at every step" in body
    assert "canary (Knative mode, canary steps 10% -> 50%)" in body
    assert serving(world.isvc()) == {f"{ISVC}-predictor-00002": 100}
    assert len(world.endpoint.hits(f"{ISVC}-predictor-00002")) == 2
    edits = comment_edits(world)
    assert any("endpoint check at 10%" in e and "canary step 2/2" not in e for e in edits)
    assert "canaryTrafficPercent" not in world.isvc()["spec"]["predictor"]


@via_prism
def test_knative_canary_failing_at_the_second_step_names_it_and_rolls_back(world: World) -> None:
    configure(world, standard=False, canary_steps=STEPS)
    world.serve_in_production()
    world.seed_record()
    world.endpoint.script(f"{ISVC}-predictor-00002", "ok", "error")

    outcome = world.comment("/deploy")
    body = world.body()
    assert outcome.outcome == d.FAILED, body
    assert "failed at 'canary step 2/3 (50%): endpoint check at 50%'" in body
    assert "canary step 3/3" not in body
    assert serving(world.isvc()) == {f"{ISVC}-predictor-00001": 100}
    assert not world.fake.pulls[NUMBER].merged


# -- pure parts -------------------------------------------------------------------------------------------


def test_plan_keeps_canary_percent_and_checks_the_steps() -> None:
    assert plan_from_settings({}, "production").steps == (10,)
    assert plan_from_settings({"canary_percent": 0}, "production").steps == (0,)
    plan = plan_from_settings({"canary_steps": [10, 50, 100], "canary_pause": 30}, "production")
    assert plan.steps == (10, 50, 100) and plan.pause == 30 and plan.label(1) == "canary step 2/3 (50%)"
    for bad, words in (({"canary_steps": [50, 10]}, "must increase"),
                       ({"canary_steps": [0, 50]}, "between 1 and 100"),
                       ({"canary_steps": []}, "non-empty"),
                       ({"canary_steps": [10, 50], "canary_percent": 20}, "disagree"),
                       ({"canary_pause": -1}, "canary_pause")):
        with pytest.raises(DeployError) as info:
            plan_from_settings(bad, "production")
        assert words in info.value.what and info.value.exit_code == 2
        assert "deployment.production" in info.value.what


def test_spec_canary_support_is_read_from_the_crd_schema() -> None:
    def crd(spec: dict[str, Any]) -> dict[str, Any]:
        return {"spec": {"versions": [{"name": "v1beta1", "schema": {"openAPIV3Schema": {
            "properties": {"spec": spec}}}}]}}

    assert support_from_crd(crd({"type": "object", "properties": {"canary": {"type": "array"}}})).supported
    minimal = support_from_crd(crd({"type": "object", "x-kubernetes-preserve-unknown-fields": True}))
    assert not minimal.supported and "no spec.canary" in minimal.reason
    assert not support_from_crd({"spec": {"versions": [{"name": "v1alpha1"}]}}).supported


def test_the_fake_controller_records_what_the_webhook_would_reject(admin: Any, namespace: str) -> None:  # noqa: F811
    """The fake holds the engine to KServe's validateCanarySpecs; here it must catch each rule."""
    from kubernetes import client

    fake = FakeKServe(admin, namespace)
    body = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "bad", "namespace": namespace,
                         "annotations": {MODE: "RawDeployment"}},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}}},
                     "canary": [{"predictor": {"name": "a", "minReplicas": 2}, "trafficPercent": 60},
                                {"predictor": {"name": "a"}, "trafficPercent": 50}]}}
    client.CustomObjectsApi(admin).create_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices", body)
    fake.settle()
    text = "\n".join(fake.errors)
    for rule in ("Standard, got 'RawDeployment'", "unique", "sum over 100", "['minReplicas']"):
        assert rule in text, rule


def test_a_crd_kfops_may_not_read_means_no_spec_canary_with_the_reason() -> None:
    from kfops_action.deploy.canary_support import spec_canary_support
    from kfops_action.deploy.errors import Forbidden

    class Denied:
        api_client = None

        def call(self, *args: Any, **kwargs: Any) -> Any:
            raise Forbidden("forbidden", status=403)

    support = spec_canary_support(Denied())  # type: ignore[arg-type]
    assert not support.supported
    assert "HTTP 403" in support.reason and "customresourcedefinitions" in support.reason


def test_the_canary_predictor_keeps_the_webhook_rules() -> None:
    from kfops_action.deploy.standard_canary import canary_name, canary_predictor

    assert canary_name("0123456789abcdef") == "kfops-0123456"
    predictor = {"minReplicas": 1, "maxReplicas": 3, "scaleTarget": 5, "canaryTrafficPercent": 10,
                 "containers": [{"name": "kserve-container"}]}
    assert canary_predictor(predictor, "kfops-0123456", "there") == {
        "containers": [{"name": "kserve-container"}], "name": "kfops-0123456"}
    assert "minReplicas" in predictor   # the template's own predictor is not changed
    with pytest.raises(DeployError) as info:
        canary_predictor({"workerSpec": {}}, "kfops-0123456", "InferenceService ns/iris")
    assert "workerSpec" in info.value.what and "nothing was changed" in str(info.value.problems)
