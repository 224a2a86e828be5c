"""Rendering the InferenceService: placeholders filled without letting a value change the YAML."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from kfops_action.deploy import TemplateError, TemplateValues, load_manifest
from kfops_action.deploy.template import check_manifest, render_object, render_text, to_plain

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart"
VALUES = {"name": "iris", "namespace": "ml", "model_uri": "s3://bucket/run-1/model.json",
          "canary_percent": 10}


def values(**overrides: Any) -> TemplateValues:
    v = dict(VALUES)
    v.update(overrides)
    return TemplateValues(**v)


def test_quickstart_template_renders_typed_values() -> None:
    m = load_manifest("inference-service.yaml", QUICKSTART, values())
    assert m["metadata"] == {"name": "iris", "namespace": "ml",
                             "labels": {"app.kubernetes.io/part-of": "kfops-quickstart"}}
    predictor = m["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10  # unquoted placeholder: an integer
    env = {e["name"]: e["value"] for e in predictor["containers"][0]["env"]}
    assert env["STORAGE_URI"] == "s3://bucket/run-1/model.json" and env["MODEL_NAME"] == "iris"
    assert predictor["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/v1/models/iris"


def test_a_value_cannot_add_keys_or_change_types() -> None:
    """Even bypassing validation, a value lands inside its one string scalar."""
    template = textwrap.dedent("""\
        metadata:
          name: {{ name }}
        spec:
          uri: "{{ model_uri }}"
          plain: {{ model_uri }}
          block: |
            model={{ model_uri }}
        """)
    hostile = 's3://b/m"\n  evil: true\n# {{ name }}'
    out = render_text(template, {**VALUES, "model_uri": hostile, "name": "true"}, source="t.yaml")
    assert out["metadata"]["name"] == "true"          # stays a string, not a boolean
    assert out["spec"]["uri"] == hostile and out["spec"]["plain"] == hostile
    assert out["spec"]["block"] == f"model={hostile}\n"
    assert set(out["spec"]) == {"uri", "plain", "block"}


def test_values_are_not_expanded_twice() -> None:
    out = render_text("a: '{{ model_uri }}'\n", {**VALUES, "model_uri": "{{ namespace }}"},
                      source="t.yaml")
    assert out == {"a": "{{ namespace }}"}


def test_numeric_looking_names_stay_strings_and_quoted_canary_is_text() -> None:
    out = render_text("n: {{ name }}\nq: \"{{ canary_percent }}\"\nu: {{ canary_percent }}\n"
                      "s: x-{{ canary_percent }}\n", {**VALUES, "name": "123"}, source="t.yaml")
    assert out == {"n": "123", "q": "10", "u": 10, "s": "x-10"}


@pytest.mark.parametrize("uri", [
    's3://b/m"\n  evil: true', "s3://b/m x", "no-scheme/path", "s3://b/{{ name }}",
    "s3://b/m\x00", "", "s3://" + "a" * 3000, 's3://b/"quoted"',
])
def test_hostile_model_uris_are_refused(uri: str) -> None:
    with pytest.raises(TemplateError) as info:
        load_manifest("inference-service.yaml", QUICKSTART, values(model_uri=uri))
    assert "model_uri" in str(info.value)


@pytest.mark.parametrize("field,value", [
    ("name", "Iris"), ("name", "iris\nx"), ("name", "-iris"), ("namespace", "ml prod"),
    ("canary_percent", 150), ("canary_percent", True), ("canary_percent", "10"),
])
def test_invalid_values_are_refused(field: str, value: Any) -> None:
    with pytest.raises(TemplateError) as info:
        load_manifest("inference-service.yaml", QUICKSTART, values(**{field: value}))
    assert field in str(info.value)


def test_extra_values_are_checked_and_usable(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: iris}\n"
        "spec:\n  predictor:\n    containers: [{name: c, image: '{{ image }}'}]\n")
    m = load_manifest("t.yaml", tmp_path, values(extra={"image": "reg/x@sha256:abc"}))
    assert m["spec"]["predictor"]["containers"][0]["image"] == "reg/x@sha256:abc"
    assert m["metadata"]["namespace"] == "ml"   # filled in from kfops.yaml
    with pytest.raises(TemplateError):
        load_manifest("t.yaml", tmp_path, values(extra={"image": "a\nb"}))
    with pytest.raises(TemplateError):
        load_manifest("t.yaml", tmp_path, values(extra={"name": "x"}))


def test_unknown_placeholders_are_named_with_their_line_but_comments_are_ignored() -> None:
    text = "# {{ whatever }} in a comment is fine\na: 1\nb: '{{ model_url }}'\n"
    with pytest.raises(TemplateError) as info:
        render_text(text, VALUES, source="t.yaml")
    assert "{{ model_url }}" in str(info.value) and "t.yaml:3" in str(info.value)


def test_invalid_yaml_points_at_the_line() -> None:
    with pytest.raises(TemplateError) as info:
        render_text("a: 1\nb: [unclosed\n", VALUES, source="t.yaml")
    assert "t.yaml:" in str(info.value)


def test_inline_template_from_kfops_yaml() -> None:
    inline = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
              "metadata": {"name": "{{ name }}"},
              "spec": {"predictor": {"canaryTrafficPercent": "{{ canary_percent }}",
                                     "model": {"storageUri": "{{ model_uri }}",
                                               "modelFormat": {"name": "sklearn"}},
                                     "serviceAccountName": "sa-{{ namespace }}"}}}
    m = load_manifest(inline, QUICKSTART, values())
    assert m["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert m["spec"]["predictor"]["model"]["storageUri"] == VALUES["model_uri"]
    assert m["spec"]["predictor"]["serviceAccountName"] == "sa-ml"
    with pytest.raises(TemplateError):
        render_object({"a": "{{ nope }}"}, VALUES, source="inline")


ORIGINAL_LAYOUT = '''
from kubernetes import client


class V1beta1PredictorSpec:  # shaped like the KServe SDK's generated models
    openapi_types = {"service_account_name": "str", "canary_traffic_percent": "int",
                     "sklearn": "object"}
    attribute_map = {"service_account_name": "serviceAccountName",
                     "canary_traffic_percent": "canaryTrafficPercent", "sklearn": "sklearn"}

    def __init__(self, service_account_name=None, canary_traffic_percent=None, sklearn=None):
        self.service_account_name = service_account_name
        self.canary_traffic_percent = canary_traffic_percent
        self.sklearn = sklearn


class V1beta1InferenceService:
    openapi_types = {"api_version": "str", "kind": "str", "metadata": "V1ObjectMeta",
                     "spec": "dict", "status": "object"}
    attribute_map = {"api_version": "apiVersion", "kind": "kind", "metadata": "metadata",
                     "spec": "spec", "status": "status"}

    def __init__(self, api_version=None, kind=None, metadata=None, spec=None, status=None):
        self.api_version, self.kind, self.metadata, self.spec, self.status = (
            api_version, kind, metadata, spec, status)


def inference_service_instance(name: str, storage_uri: str, namespace: str = "default",
                               canary_traffic_percent: int = None):
    return V1beta1InferenceService(
        api_version="serving.kserve.io/v1beta1", kind="InferenceService",
        metadata=client.V1ObjectMeta(name=name, namespace=namespace),
        spec={"predictor": V1beta1PredictorSpec(
            service_account_name="deployer", canary_traffic_percent=canary_traffic_percent,
            sklearn={"storageUri": storage_uri})})


def as_dict(name, model_uri):
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name}, "spec": {"predictor": {"model": {"storageUri": model_uri}}}}


def needs_more(name, flavour):
    return {}


def broken(name):
    raise RuntimeError("boom")
'''


def test_original_kfops_function_returning_an_sdk_object(tmp_path: Path) -> None:
    (tmp_path / "deploy.py").write_text(ORIGINAL_LAYOUT)
    m = load_manifest("deploy.py", tmp_path, values())
    assert m["metadata"] == {"name": "iris", "namespace": "ml"}   # None fields dropped
    assert m["spec"]["predictor"] == {"serviceAccountName": "deployer", "canaryTrafficPercent": 10,
                                      "sklearn": {"storageUri": VALUES["model_uri"]}}
    assert "status" not in m


def test_function_forms_and_their_errors(tmp_path: Path) -> None:
    (tmp_path / "deploy.py").write_text(ORIGINAL_LAYOUT)
    m = load_manifest("deploy.py:as_dict", tmp_path, values())
    assert m["spec"]["predictor"]["model"]["storageUri"] == VALUES["model_uri"]
    for spec, fragment in [("deploy.py:missing", "has no function 'missing'"),
                           ("deploy.py:needs_more", "flavour"),
                           ("deploy.py:broken", "RuntimeError: boom"),
                           ("absent.py", "does not exist"),
                           ("../outside.yaml", "outside the folder")]:
        with pytest.raises(TemplateError) as info:
            load_manifest(spec, tmp_path, values())
        assert fragment in str(info.value), spec


def test_to_plain_uses_the_api_field_names() -> None:
    from kubernetes import client

    meta = client.V1ObjectMeta(name="x", annotations={"a": "b"}, resource_version=None)
    assert to_plain(meta) == {"name": "x", "annotations": {"a": "b"}}
    with pytest.raises(TemplateError):
        to_plain(object())


def test_check_manifest_refuses_another_target_and_strips_server_fields() -> None:
    base = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "iris", "resourceVersion": "5", "uid": "u"},
            "spec": {"predictor": {}}, "status": {"url": "x"}}
    clean = check_manifest(base, name="iris", namespace="ml", source="t")
    assert clean["metadata"] == {"name": "iris", "namespace": "ml"} and "status" not in clean
    for broken, fragment in [({"metadata": {"name": "other"}}, "kfops.yaml deploys 'iris'"),
                             ({"metadata": {"name": "iris", "namespace": "x"}}, "deploys to 'ml'"),
                             ({"kind": "Service"}, "kind must be InferenceService"),
                             ({"apiVersion": "serving.kserve.io/v1alpha2"}, "apiVersion"),
                             ({"spec": {}}, "spec.predictor")]:
        with pytest.raises(TemplateError) as info:
            check_manifest({**base, **broken}, name="iris", namespace="ml", source="t")
        assert fragment in str(info.value)
