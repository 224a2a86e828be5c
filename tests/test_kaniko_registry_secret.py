"""Registry credentials reach Kaniko as /kaniko/.docker/config.json, whichever key their Secret uses.

Against the real kube-apiserver (tests/test_images_kaniko.py's fixtures: a namespace, and the thread
that plays the Job controller and creates each Job's pod). No kubelet runs, so the mount is resolved
here exactly as the kubelet resolves a Secret volume with `items`: each item's key must exist in the
Secret, and its value becomes the file `<mountPath>/<path>`. A key the Secret lacks is what makes the
kubelet refuse to start the build pod ("couldn't find key ... in Secret"), which `kfc doctor` must
say before a build waits for it.
"""

from __future__ import annotations

import base64
import json
import posixpath
from pathlib import Path
from typing import Any

import pytest

from test_doctor import make_project, of, run_doctor
from test_images_kaniko import (DIGEST_A, GIT_URL, REGISTRY, Outcome, controller, namespace, repo,  # noqa: F401
                                specs)
from kfops_action.config import load_config
from kfops_action.errors import ConfigError
from kfops_action.images.kaniko import KanikoBuilder, settings_from_section
from kfops_action.images.kaniko_job import GitSource
from kfops_action.onboarding.checks import FAIL, OK

DOCKER_CONFIG = {"auths": {"registry.example": {"auth": base64.b64encode(b"robot:s3cret").decode()}}}


def create_secret(kube_api: Any, namespace: str, name: str, key: str, secret_type: str) -> None:
    from kubernetes import client

    client.CoreV1Api(kube_api.api_client()).create_namespaced_secret(namespace, {
        "metadata": {"name": name}, "type": secret_type,
        "data": {key: base64.b64encode(json.dumps(DOCKER_CONFIG).encode()).decode()}})


def mounted_files(kube_api: Any, namespace: str, pod: dict[str, Any]) -> dict[str, bytes]:
    """The files the kubelet would write into the kaniko container from its Secret volumes."""
    from kubernetes import client

    core = client.CoreV1Api(kube_api.api_client())
    [container] = pod["spec"]["containers"]
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    files: dict[str, bytes] = {}
    for mount in container.get("volumeMounts", []):
        source = volumes[mount["name"]]["secret"]
        data = core.read_namespaced_secret(source["secretName"], namespace).data or {}
        for item in source["items"]:
            if item["key"] not in data:
                raise LookupError(f"couldn't find key {item['key']} in Secret {namespace}/{source['secretName']}")
            files[posixpath.join(mount["mountPath"], item["path"])] = base64.b64decode(data[item["key"]])
    return files


def build_pod(kube_api: Any, repo: tuple[Path, str], namespace: str, controller: Any,
              kaniko: dict[str, Any]) -> dict[str, Any]:
    """Build one image with these images.kaniko settings; the build pod as the API server stored it."""
    from kubernetes import client

    root, sha = repo
    controller(trainer=Outcome("succeed", DIGEST_A))
    settings = settings_from_section({"builder": "kaniko", "kaniko": {"namespace": namespace, **kaniko}})
    builder = KanikoBuilder(settings, source=GitSource(GIT_URL, sha), repo_root=root,
                            api_client=kube_api.api_client(), poll_seconds=0.05, wait_grace_seconds=0)
    [built] = builder.build(specs(root)[:1], REGISTRY, sha[:7])
    assert built.digest == DIGEST_A
    [pod] = client.CoreV1Api(kube_api.api_client()).list_namespaced_pod(namespace).items
    return kube_api.api_client().sanitize_for_serialization(pod)


@pytest.mark.parametrize("key, secret_type, setting", [
    (".dockerconfigjson", "kubernetes.io/dockerconfigjson", {}),  # kubectl create secret docker-registry
    ("config.json", "Opaque", {"registry_secret_key": "config.json"}),  # the original Kfops' Secret
])
def test_the_docker_config_is_mounted_where_kaniko_reads_it(kube_api: Any, repo: tuple[Path, str], namespace: str,
                                                           controller: Any, key: str, secret_type: str,
                                                           setting: dict[str, str]) -> None:
    create_secret(kube_api, namespace, "push", key, secret_type)
    pod = build_pod(kube_api, repo, namespace, controller, {"registry_secret": "push", **setting})
    files = mounted_files(kube_api, namespace, pod)
    assert json.loads(files["/kaniko/.docker/config.json"]) == DOCKER_CONFIG
    assert list(files) == ["/kaniko/.docker/config.json"]  # nothing else of the Secret is exposed
    [mount] = pod["spec"]["containers"][0]["volumeMounts"]
    assert mount["readOnly"] is True


def test_the_wrong_key_is_found_by_doctor_before_a_build_hangs(kube_api: Any, repo: tuple[Path, str],
                                                              namespace: str, controller: Any,
                                                              tmp_path: Path) -> None:
    create_secret(kube_api, namespace, "regcred", "config.json", "Opaque")
    pod = build_pod(kube_api, repo, namespace, controller, {"registry_secret": "regcred"})
    with pytest.raises(LookupError, match="couldn't find key .dockerconfigjson"):
        mounted_files(kube_api, namespace, pod)  # the kubelet would never start this pod

    def edit(config: dict[str, Any]) -> None:
        config.pop("deployment")
        config["images"] = {"builder": "kaniko", "registry": REGISTRY, "build": [{"name": "trainer", "context": "."}],
                            "kaniko": {"namespace": namespace, "registry_secret": "regcred"}}

    project = make_project(tmp_path, "http://127.0.0.1:9", edit=edit)
    env = {"KUBECONFIG": str(kube_api.kubeconfig)}
    code, results, _ = run_doctor(project, env, only=["namespaces"])
    [line] = of(results, "namespaces")
    assert code == 1 and line.verdict == FAIL
    assert "secret regcred has no key '.dockerconfigjson' (its keys: config.json)" in line.message
    assert line.fix == "set images.kaniko.registry_secret_key: config.json" and "/build" in line.needed_by

    config = project / "kfops.yaml"
    config.write_text(config.read_text().replace("registry_secret: regcred",
                                                 "registry_secret: regcred\n    registry_secret_key: config.json"))
    code, results, _ = run_doctor(project, env, only=["namespaces"])
    assert code == 0 and [r.verdict for r in of(results, "namespaces")] == [OK]


def test_only_the_two_docker_config_keys_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "kfops.yaml"
    path.write_text("version: 1\npipeline: {file: p.py, function: f}\nimages:\n  builder: kaniko\n"
                    "  kaniko: {namespace: b, registry_secret: s, registry_secret_key: dockerconfig}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert any("registry_secret_key" in str(p) and ".dockerconfigjson" in str(p) for p in error.value.problems)
