"""Kubernetes API failures as errors a user can act on: which call, where, and what to grant.

A bare `ApiException(403)` says nothing a PR author can use; "cannot create jobs.batch in namespace
ml-builds: grant ..." does. Nothing here imports kubernetes: the exception is read by duck typing,
so this module loads with the rest of kfops.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import ImageBuildError

KANIKO_RBAC = ("bind the identity kfops uses (its kubeconfig user or service account) to a Role in namespace "
               "{namespace} that allows: jobs.batch create, get, list, delete; pods get, list; pods/log get; "
               "configmaps get, create, patch (the last only for reusing unchanged images)")


def server_message(exc: BaseException) -> str:
    """The API server's own message (its Status body), else the exception's text."""
    body = getattr(exc, "body", None)
    if body:
        try:
            message = json.loads(body).get("message")
            if message:
                return str(message)
        except (ValueError, AttributeError):
            pass
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def kube_error(exc: BaseException, verb: str, resource: str, namespace: str, *,
               host: str | None = None) -> ImageBuildError:
    """An ImageBuildError for a failed API call `verb resource` in `namespace`."""
    status = status_of(exc)
    detail = server_message(exc)
    where = f"in namespace {namespace}"
    if status == 403:
        return ImageBuildError(
            f"Kubernetes refused to {verb} {resource} {where} (403 Forbidden): {detail}",
            fix=KANIKO_RBAC.format(namespace=namespace), status=403)
    if status == 401:
        return ImageBuildError(
            f"Kubernetes did not accept kfops' credentials to {verb} {resource} {where} (401 Unauthorized)",
            fix="check the kubeconfig (or the service-account token) the builder uses; tokens expire", status=401)
    if status == 404 and verb == "create":
        return ImageBuildError(
            f"cannot {verb} {resource} {where}: {detail}",
            fix=f"create the namespace {namespace} (with the Role described in the docs), or set images.kaniko.namespace "
                "to the cluster's build namespace", status=404)
    if status is None:
        target = f" at {host}" if host else ""
        return ImageBuildError(f"cannot reach the Kubernetes API{target} to {verb} {resource} {where}: {detail}",
                               fix="check the kubeconfig's server address and that the runner can reach it")
    return ImageBuildError(f"Kubernetes failed to {verb} {resource} {where} ({status}): {detail}", status=status)


def describe(exc: Any) -> str:
    """One line for a failure that is only worth a mention (a log that cannot be read)."""
    status = status_of(exc)
    return f"{status}: {server_message(exc)}" if status else server_message(exc)
