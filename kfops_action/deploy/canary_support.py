"""Does this cluster's KServe accept `spec.canary` (Standard-mode canary, KServe v0.20, kserve#5672)?

Asked of the InferenceService CRD, not of the KServe version: the CRD is what the API server
validates against, it is readable with one GET, and a cluster upgraded by hand can have a controller
and a CRD of different versions (the CRD is what decides whether the field survives pruning). A
"minimal" CRD (spec with no listed properties) says nothing, so it counts as "not supported": the
engine then keeps today's Standard-mode behaviour (refuse, or replace) instead of writing a field
an older controller would ignore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import KubeApiError
from .isvc import GROUP, PLURAL, VERSION
from .kube import Kube

CRD_NAME = f"{PLURAL}.{GROUP}"


@dataclass(frozen=True)
class CanarySupport:
    supported: bool
    reason: str   # for the report: why kfops thinks so


def spec_canary_support(kube: Kube) -> CanarySupport:
    """Read the CRD and look for `spec.canary` in the served version's schema."""
    from kubernetes import client

    api = client.ApiextensionsV1Api(kube.api_client)
    try:
        crd = kube.call("get", "apiextensions.k8s.io", "customresourcedefinitions", "", CRD_NAME,
                        api.read_custom_resource_definition, CRD_NAME, raw=True)
    except KubeApiError as exc:
        return CanarySupport(False, f"could not read the CRD {CRD_NAME} (HTTP {exc.status}): "
                                    "grant `get` on customresourcedefinitions to the deploy "
                                    "identity so kfops can use spec.canary")
    return support_from_crd(crd)


def support_from_crd(crd: dict[str, Any]) -> CanarySupport:
    """Pure part of the check, for the CRD as the API server returns it."""
    for version in (crd.get("spec") or {}).get("versions") or []:
        if version.get("name") != VERSION:
            continue
        schema = ((version.get("schema") or {}).get("openAPIV3Schema") or {})
        spec = (schema.get("properties") or {}).get("spec") or {}
        if "canary" in (spec.get("properties") or {}):
            return CanarySupport(True, f"the CRD {CRD_NAME} has spec.canary (KServe >= v0.20)")
        return CanarySupport(False, f"the CRD {CRD_NAME} has no spec.canary (KServe before v0.20, "
                                    "or a minimal CRD without a schema)")
    return CanarySupport(False, f"the CRD {CRD_NAME} does not serve {VERSION}")
