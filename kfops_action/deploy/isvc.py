"""Read and write InferenceServices as plain dicts (CustomObjectsApi, serving.kserve.io/v1beta1).

Writes are JSON merge patches (RFC 7386), for two reasons:
- removing `canaryTrafficPercent` (the documented way to promote) needs `null` in a merge patch;
  KServe's SDK `patch` drops None fields, so it cannot express it;
- a patch carrying `metadata.resourceVersion` is applied only to the version we read, so a
  concurrent writer makes it fail with 409 instead of being overwritten; `update` then re-reads
  and recomputes the patch (KServe's controller bumps resourceVersion with every status write, so
  conflicts are routine, not exceptional).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .errors import Conflict, KubeApiError
from .kube import Kube

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
PLURAL = "inferenceservices"
CONFLICT_ATTEMPTS = 5


class IsvcApi:
    """get/create/patch/delete one namespace's InferenceServices."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist (a 404 on the object, not the namespace)."""
        api = self.kube.custom()
        try:
            return self.kube.call("get", GROUP, PLURAL, namespace, name,
                                  api.get_namespaced_custom_object, GROUP, VERSION, namespace,
                                  PLURAL, name)
        except KubeApiError as exc:
            if exc.status == 404 and type(exc) is KubeApiError:
                return None
            raise

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = manifest["metadata"]
        api = self.kube.custom()
        return self.kube.call("create", GROUP, PLURAL, meta["namespace"], meta["name"],
                              api.create_namespaced_custom_object, GROUP, VERSION,
                              meta["namespace"], PLURAL, manifest)

    def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (the client sends dict bodies as application/merge-patch+json)."""
        api = self.kube.custom()
        return self.kube.call("patch", GROUP, PLURAL, namespace, name,
                              api.patch_namespaced_custom_object, GROUP, VERSION, namespace,
                              PLURAL, name, patch)

    def delete(self, namespace: str, name: str) -> None:
        api = self.kube.custom()
        try:
            self.kube.call("delete", GROUP, PLURAL, namespace, name,
                           api.delete_namespaced_custom_object, GROUP, VERSION, namespace,
                           PLURAL, name)
        except KubeApiError as exc:
            if exc.status != 404:
                raise

    def update(self, namespace: str, name: str,
               make_patch: Callable[[dict[str, Any]], dict[str, Any] | None],
               *, attempts: int = CONFLICT_ATTEMPTS) -> tuple[dict[str, Any], dict[str, Any]]:
        """Read, build a merge patch from what was read, apply it guarded by resourceVersion.

        Returns (the object as read, the object after the patch). On 409 the object is read again
        and `make_patch` called again, up to `attempts` times. `make_patch` returning None means
        nothing to change.
        """
        for attempt in range(1, attempts + 1):
            current = self.get(namespace, name)
            if current is None:
                raise KubeApiError(f"InferenceService {namespace}/{name} disappeared during the deploy",
                                   fix="something deleted it meanwhile; run the deploy again",
                                   status=404)
            patch = make_patch(copy.deepcopy(current))
            if patch is None:
                return current, current
            patch = copy.deepcopy(patch)
            patch.setdefault("metadata", {})["resourceVersion"] = \
                current["metadata"]["resourceVersion"]
            try:
                return current, self.patch(namespace, name, patch)
            except Conflict:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns `old` into `new` (lists are replaced whole).

    Used for `spec`, so that a field removed from the template is removed from the cluster too
    (a plain merge of the new spec would leave it behind).
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        return copy.deepcopy(new)
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = copy.deepcopy(value)
        elif old[key] != value:
            patch[key] = merge_patch(old[key], value)
    return patch


def predictor_status(isvc: dict[str, Any] | None) -> dict[str, Any]:
    """`status.components.predictor`, or {} (no status yet, or Standard mode's sparse status)."""
    status = (isvc or {}).get("status") or {}
    return ((status.get("components") or {}).get("predictor")) or {}
