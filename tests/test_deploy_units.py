"""Deploy building blocks without a cluster: readiness verdicts, merge patches, mode detection,
provenance, API-error translation, the endpoint check (against a loopback server), import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from fakes.model_endpoint import ModelEndpoint
from kfops_action.deploy import (CheckTarget, DeployError, EndpointCheckConfig, HttpEndpointCheck,
                                 KubeApiError)
from kfops_action.deploy.annotations import provenance_annotations
from kfops_action.deploy.errors import Conflict, Forbidden, Invalid, NamespaceMissing, api_error
from kfops_action.deploy.isvc import merge_patch
from kfops_action.deploy.mode import ModeRefused, check_compatible, detect
from kfops_action.deploy.readiness import (RevisionExpectation, Verdict, new_revision,
                                           serving_only, wait_for)


def isvc(created: str | None, ready: str | None, traffic: list[dict[str, Any]], *,
         rolled_out: str | None = None, ready_status: str = "True",
         config: tuple[str, str] | None = None) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": ready_status}]
    if config:
        conditions.append({"type": "LatestDeploymentReady", "status": config[0], "reason": config[1]})
    predictor = {"latestCreatedRevision": created, "latestReadyRevision": ready, "traffic": traffic}
    if rolled_out:
        predictor["latestRolledoutRevision"] = rolled_out
    return {"status": {"conditions": conditions, "components": {"predictor": predictor}}}


def latest(rev: str, pct: int) -> dict[str, Any]:
    return {"revisionName": rev, "percent": pct, "latestRevision": True, "tag": "latest"}


def prev(rev: str, pct: int) -> dict[str, Any]:
    return {"revisionName": rev, "percent": pct, "latestRevision": False, "tag": "prev"}


CANARY = RevisionExpectation("r-1", 10, "r-1")


@pytest.mark.parametrize("obj,ready,failed,fragment", [
    (isvc("r-1", "r-1", [latest("r-1", 100)]), False, False, "create a new revision"),
    (isvc("r-2", "r-1", [latest("r-1", 10), prev("r-1", 90)], ready_status="Unknown"), False, False,
     "r-2 to become ready"),
    (isvc("r-2", "r-1", [latest("r-1", 10), prev("r-1", 90)], config=("False", "RevisionFailed")),
     False, True, "RevisionFailed"),
    (isvc("r-2", "r-2", [latest("r-2", 100)]), False, False, "10% of traffic on r-2"),
    (isvc("r-2", "r-2", [latest("r-2", 10), prev("r-0", 90)]), False, False, "previous revision r-1"),
    (isvc("r-2", "r-2", [latest("r-2", 10), prev("r-1", 90)], ready_status="False"), False, False,
     "Ready=False"),
    (isvc("r-2", "r-2", [latest("r-2", 10), prev("r-1", 90)]), True, False, "ready with 10%"),
])
def test_new_revision_verdicts(obj: dict[str, Any], ready: bool, failed: bool, fragment: str) -> None:
    verdict = new_revision(obj, CANARY)
    assert (verdict.ready, verdict.failed) == (ready, failed)
    assert fragment in verdict.reason


def test_observed_generation_is_not_a_readiness_signal() -> None:
    obj = isvc("r-1", "r-1", [latest("r-1", 100)])
    obj["status"]["observedGeneration"] = 99
    obj["metadata"] = {"generation": 2}
    assert not new_revision(obj, CANARY).ready


def test_serving_only_sums_a_split_over_the_same_revision() -> None:
    same = isvc("r-2", "r-2", [latest("r-2", 0), prev("r-2", 100)], rolled_out="r-2")
    assert serving_only(same, "r-2", rolled_out=False).ready
    back = isvc("r-2", "r-2", [latest("r-2", 0), prev("r-1", 100)], rolled_out="r-1")
    assert serving_only(back, "r-1", rolled_out=False).ready
    assert not serving_only(back, "r-2", rolled_out=True).ready


def test_wait_for_times_out_with_the_last_reason_and_tolerates_blips() -> None:
    now = [0.0]
    reads = iter([KubeApiError("blip", status=503), {"x": 1}, {"x": 1}, {"x": 1}, {"x": 1}])

    def read() -> Any:
        item = next(reads)
        if isinstance(item, Exception):
            raise item
        return item

    verdict, obj = wait_for(read, lambda o: Verdict(False, "still waiting"), timeout=2.0,
                            poll_interval=1.0, clock=lambda: now[0],
                            sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert verdict.timed_out and verdict.reason == "still waiting" and obj == {"x": 1}
    with pytest.raises(KubeApiError):
        wait_for(lambda: (_ for _ in ()).throw(KubeApiError("no", status=403)),
                 lambda o: Verdict(True, ""), timeout=5, poll_interval=1, sleep=lambda s: None)


def test_merge_patch_removes_what_the_template_no_longer_has() -> None:
    old = {"predictor": {"minReplicas": 1, "canaryTrafficPercent": 0,
                         "containers": [{"name": "a", "image": "x"}]}, "transformer": {"a": 1}}
    new = {"predictor": {"canaryTrafficPercent": 10, "containers": [{"name": "a", "image": "y"}]}}
    assert merge_patch(old, new) == {
        "transformer": None,
        "predictor": {"minReplicas": None, "canaryTrafficPercent": 10,
                      "containers": [{"name": "a", "image": "y"}]}}
    assert merge_patch(new, new) == {}


@pytest.mark.parametrize("obj,manifest,name,source", [
    ({"status": {"deploymentMode": "RawDeployment"}}, None, "Standard", "status.deploymentMode"),
    ({"status": {"deploymentMode": "Serverless"},
      "metadata": {"annotations": {"serving.kserve.io/deploymentMode": "Standard"}}}, None,
     "Knative", "status.deploymentMode"),
    ({"metadata": {"annotations": {"serving.kserve.io/deploymentMode": "Standard"}}}, None,
     "Standard", "annotation"),
    ({"status": {"components": {"predictor": {"latestCreatedRevision": "r"}}}}, None, "Knative",
     "status"),
    (None, {"metadata": {"annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"}}},
     "Standard", "template"),
    (None, None, None, "cluster default"),
])
def test_mode_detection_precedence(obj: Any, manifest: Any, name: str | None, source: str) -> None:
    mode = detect(obj, manifest)
    assert mode.name == name and source in mode.source


def test_changing_the_mode_of_a_live_service_is_refused() -> None:
    live = detect({"status": {"deploymentMode": "Serverless"}})
    with pytest.raises(ModeRefused) as info:
        check_compatible(live, {"metadata": {"annotations": {
            "serving.kserve.io/deploymentMode": "RawDeployment"}}}, "InferenceService ml/iris")
    assert "cannot be changed" in str(info.value) or "does not allow changing" in str(info.value)
    check_compatible(live, {"metadata": {"annotations": {
        "serving.kserve.io/deploymentMode": "Knative"}}}, "x")  # same mode, new spelling: fine


def test_provenance_is_required_and_one_line() -> None:
    with pytest.raises(DeployError) as info:
        provenance_annotations({"pr": 3, "commit": "abc"}, environment="production")
    assert "run_id is missing" in str(info.value) and "actor is missing" in str(info.value)
    with pytest.raises(DeployError):
        provenance_annotations({"pr": 3, "commit": "abc", "run_id": "r\n", "actor": "a"},
                               environment="production")
    out = provenance_annotations({"pr": 3, "commit": "abc", "run_id": "r", "actor": "a"},
                                 environment="staging")
    assert out["kfops/pull-request"] == "3" and out["kfops/environment"] == "staging"
    assert "kfops/deployed-at" in out


class FakeApiException(Exception):
    def __init__(self, status: int, body: dict[str, Any] | str) -> None:
        super().__init__(status)
        self.status, self.reason = status, "reason"
        self.body = body if isinstance(body, str) else json.dumps(body)


def translate(status: int, body: Any, verb: str = "patch") -> KubeApiError:
    return api_error(FakeApiException(status, body), verb=verb, group="serving.kserve.io",
                     plural="inferenceservices", namespace="ml", name="iris")


def test_api_errors_say_what_where_and_how_to_fix() -> None:
    sa = translate(403, {"reason": "Forbidden", "message": 'inferenceservices.serving.kserve.io "iris" '
                         'is forbidden: User "system:serviceaccount:ci:deployer" cannot patch resource'})
    assert isinstance(sa, Forbidden) and "not allowed to patch inferenceservices" in sa.what
    assert "--serviceaccount=ci:deployer" in sa.fix and "-n ml" in sa.fix
    ns = translate(404, {"reason": "NotFound", "message": 'namespaces "ml" not found',
                         "details": {"name": "ml", "kind": "namespaces"}}, "create")
    assert isinstance(ns, NamespaceMissing) and "kubectl create namespace ml" in ns.fix
    assert isinstance(translate(409, {"reason": "Conflict", "message": "modified"}), Conflict)
    invalid = translate(422, {"reason": "Invalid", "message": "InferenceService is invalid",
                              "details": {"causes": [{"field": "metadata.labels",
                                                      "message": "Invalid value: 'a b'"}]}})
    assert isinstance(invalid, Invalid) and invalid.exit_code == 2
    assert any(p.where == "metadata.labels" for p in invalid.problems)
    proxy = translate(502, "<html>bad gateway</html>")
    assert proxy.status == 502 and "HTTP 502" in proxy.what


@pytest.fixture
def model() -> Any:
    with ModelEndpoint() as server:
        yield server


def config(**overrides: Any) -> EndpointCheckConfig:
    values: dict[str, Any] = dict(sample=b'{"instances": [[1, 2]]}', retries=2, backoff=0.01,
                                  request_timeout=0.5)
    values.update(overrides)
    return EndpointCheckConfig(**values)


def target(model: ModelEndpoint, revision: str = "iris-predictor-00002") -> CheckTarget:
    return CheckTarget("iris", "ml", f"{model.base}/rev/{revision}", revision)


def test_check_retries_with_backoff_then_passes(model: ModelEndpoint) -> None:
    model.script("iris-predictor-00002", "unavailable", "error", "ok")
    sleeps: list[float] = []
    outcome = HttpEndpointCheck(config(), sleep=sleeps.append)(target(model))
    assert outcome.passed and outcome.attempts == 3 and outcome.status == 200
    assert sleeps == [0.01, 0.02]
    sent = model.hits("iris-predictor-00002")[0]
    assert sent["path"] == "/rev/iris-predictor-00002/v1/models/iris:predict"
    assert sent["headers"]["Content-Type"] == "application/json"


def test_check_failure_is_bounded_and_reports_the_answer(model: ModelEndpoint) -> None:
    model.script("iris-predictor-00002", "error")
    outcome = HttpEndpointCheck(config(retries=1, headers={"Authorization": "Bearer s3cr3t-value"}),
                                sleep=lambda s: None)(target(model))
    assert not outcome.passed and outcome.attempts == 2
    assert "HTTP 500 (expected 200)" in outcome.detail and "scripted error" in outcome.detail
    assert "s3cr3t" not in outcome.detail


def test_a_hanging_model_times_out(model: ModelEndpoint) -> None:
    model.script("iris-predictor-00002", "hang")
    outcome = HttpEndpointCheck(config(retries=0, request_timeout=0.3))(target(model))
    assert not outcome.passed and "no answer within 0.3 s" in outcome.detail


def test_configured_url_and_headers_take_the_targets_host(model: ModelEndpoint) -> None:
    check = HttpEndpointCheck(config(url=f"{model.base}/gw/gateway/v2/models/{{{{ name }}}}/infer",
                                     headers={"Host": "{{ host }}", "X-Rev": "{{revision}}"},
                                     expected_status=404))
    assert not check.needs_revision_url
    model.script("gateway", "missing")
    outcome = check(CheckTarget("iris", "ml", "http://latest-iris-predictor.ml.example.com",
                                "iris-predictor-00002"))
    assert outcome.passed, outcome.detail
    sent = model.hits("gateway")[0]
    assert sent["path"] == "/gw/gateway/v2/models/iris/infer"
    assert sent["headers"]["Host"] == "latest-iris-predictor.ml.example.com"
    assert sent["headers"]["X-Rev"] == "iris-predictor-00002"


def test_no_url_for_the_revision_says_how_to_get_one() -> None:
    outcome = HttpEndpointCheck(config())(CheckTarget("iris", "ml", None, "r-2"))
    assert not outcome.passed and "enable-tag-routing" in outcome.detail


def test_sample_file_is_read_and_must_be_json(tmp_path: Any) -> None:
    from kfops_action.errors import ConfigError

    (tmp_path / "ok.json").write_text('{"instances": []}')
    (tmp_path / "bad.json").write_text("{nope")
    loaded = EndpointCheckConfig.from_settings({"sample": "ok.json", "retries": 0}, tmp_path)
    assert loaded is not None and loaded.sample == b'{"instances": []}' and loaded.retries == 0
    assert EndpointCheckConfig.from_settings(None, tmp_path) is None
    for sample in ("bad.json", "missing.json"):
        with pytest.raises(ConfigError):
            EndpointCheckConfig.from_settings({"sample": sample}, tmp_path)


def test_importing_the_deploy_package_loads_neither_kubernetes_nor_requests() -> None:
    code = ("import sys, kfops_action.deploy; "
            "print(sorted(m for m in ('kubernetes', 'requests', 'kserve', 'urllib3') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
