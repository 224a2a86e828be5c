"""The real API server the Kubernetes tests use answers as Kubernetes does."""

from __future__ import annotations

import pytest


def test_api_server_serves_the_kserve_crd_and_enforces_rbac(kube_api) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    admin = kube_api.api_client()
    crds = client.ApiextensionsV1Api(admin).list_custom_resource_definition()
    assert "inferenceservices.serving.kserve.io" in {c.metadata.name for c in crds.items}
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": "infra-check"}})
    limited = kube_api.api_client(kube_api.limited_token)
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(limited).list_namespaced_pod("infra-check")
    assert info.value.status == 403
