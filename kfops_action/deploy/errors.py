"""Deploy failures, and the translation of Kubernetes API errors into something a user can act on.

Every failure is a `KfopsError` (what / where / how to fix), so the /deploy handler reports it like
any other command. Two things are specific to deploying:

- A failure after the cluster was touched carries the `DeployResult` (what was tried, whether it
  was rolled back, what the InferenceService now serves): the report must never leave production
  in a state nobody explained.
- Kubernetes answers in its own vocabulary (`Status` objects, reasons such as `Forbidden`). A bare
  "403" helps nobody; the message names the verb, resource and namespace we were refused and the
  Role that would allow it.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, KfopsError, Problem

if TYPE_CHECKING:
    from .result import DeployResult


class DeployError(KfopsError):
    """A deploy failed. `result` is set when the cluster may have changed (see `result.message`)."""

    def __init__(self, what: str, problems: list[Problem] | None = None, fix: str | None = None,
                 *, exit_code: int = 1, result: DeployResult | None = None,
                 status: int | None = None) -> None:
        super().__init__(what, problems or [], fix, exit_code)
        self.result = result
        self.status = status


class TemplateError(ConfigError):
    """The InferenceService template (or deployment function) cannot be rendered or is not valid."""


class KubeApiError(DeployError):
    """The Kubernetes API refused or failed a request (403, 404, 409, 422, 5xx, unreachable)."""

    def __init__(self, what: str, problems: list[Problem] | None = None, fix: str | None = None,
                 *, status: int | None = None, reason: str | None = None,
                 exit_code: int = 1) -> None:
        super().__init__(what, problems, fix, exit_code=exit_code, status=status)
        self.reason = reason


class Forbidden(KubeApiError):
    """RBAC denied a verb on a resource in a namespace (HTTP 403)."""


class NamespaceMissing(KubeApiError):
    """The target namespace does not exist (HTTP 404 naming `namespaces`)."""


class Conflict(KubeApiError):
    """A write lost a race (HTTP 409): retried by the callers that can, reported after that."""


class Invalid(KubeApiError):
    """The API server rejected the object as invalid (HTTP 422)."""


class LockHeld(DeployError):
    """Another deploy holds the environment's lock."""

    def __init__(self, what: str, problems: list[Problem] | None = None, fix: str | None = None,
                 *, holder: dict[str, str] | None = None) -> None:
        super().__init__(what, problems, fix, exit_code=1)
        self.holder = holder or {}


class LockLost(DeployError):
    """Our lock expired and another deploy took it while we were still working."""


class ModeRefused(DeployError):
    """The InferenceService's deployment mode cannot do what the config asks (e.g. a canary)."""


class RolloutFailed(DeployError):
    """A step after the InferenceService was written failed; `result` says what now serves."""


# (group, plural) -> the resource name `kubectl create role --resource=` expects
_RESOURCE_NAMES = {
    ("serving.kserve.io", "inferenceservices"): "inferenceservices.serving.kserve.io",
    ("coordination.k8s.io", "leases"): "leases.coordination.k8s.io",
}


def status_body(exc: Any) -> dict[str, Any]:
    """The `Status` object of an ApiException, or {} when the body is not one (a proxy's page)."""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip().startswith("{"):
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def api_error(exc: Any, *, verb: str, group: str, plural: str, namespace: str,
              name: str | None = None) -> KubeApiError:
    """Translate a `kubernetes.client.ApiException` from `verb` on `plural` into a KubeApiError.

    `verb` is the Kubernetes verb (get, create, patch, update, delete), so a 403 names exactly the
    permission that is missing.
    """
    status_code = int(getattr(exc, "status", 0) or 0)
    body = status_body(exc)
    message = str(body.get("message") or getattr(exc, "reason", "") or f"HTTP {status_code}")
    reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    resource = _RESOURCE_NAMES.get((group, plural), f"{plural}.{group}" if group else plural)
    target = f"{plural} {namespace}/{name}" if name else f"{plural} in namespace {namespace}"
    where = f"{resource} {namespace}/{name}" if name else f"{resource} in namespace {namespace}"
    if status_code == 403:
        user = _user_in(message)
        subject = f"--user={user}" if user and not user.startswith("system:serviceaccount:") \
            else (f"--serviceaccount={_sa(user)}" if user else "--user=<the deploying identity>")
        return Forbidden(
            f"not allowed to {verb} {plural} in namespace {namespace!r} (HTTP 403, RBAC)",
            [Problem(message, where)],
            f"grant the deploying identity `{verb}` on `{resource}` in namespace {namespace}, e.g. "
            f"`kubectl create role kfops-deployer -n {namespace} --verb=get,create,update,patch,delete "
            f"--resource=inferenceservices.serving.kserve.io --resource=leases.coordination.k8s.io` and "
            f"`kubectl create rolebinding kfops-deployer -n {namespace} --role=kfops-deployer {subject}`",
            status=403, reason=reason)
    if status_code == 404 and details.get("kind") == "namespaces":
        return NamespaceMissing(
            f"namespace {namespace!r} does not exist (HTTP 404 while trying to {verb} {plural})",
            [Problem(message, f"namespace {namespace}")],
            f"create it (`kubectl create namespace {namespace}`, with KServe enabled for it), or fix "
            "deployment.<environment>.namespace in kfops.yaml",
            status=404, reason=reason)
    if status_code == 404:
        return KubeApiError(
            f"{target} not found (HTTP 404 while trying to {verb} it)",
            [Problem(message, where)],
            "check that KServe is installed (the InferenceService CRD serving.kserve.io/v1beta1) and "
            "that nothing deleted the object during the deploy", status=404, reason=reason)
    if status_code == 409:
        return Conflict(
            f"conflict while trying to {verb} {target} (HTTP 409: {reason or 'Conflict'})",
            [Problem(message, where)],
            "another writer changed the object at the same time; run the deploy again",
            status=409, reason=reason)
    if status_code == 422:
        causes = details.get("causes") if isinstance(details.get("causes"), list) else []
        problems = [Problem(str(c.get("message", "")), str(c.get("field") or where))
                    for c in causes if isinstance(c, dict)] or [Problem(message, where)]
        return Invalid(
            f"the API server rejected {target} as invalid (HTTP 422): {message}",
            problems,
            "fix the InferenceService template (deployment.<environment>.template) so that it "
            "renders a valid object; the API server's message above names the field",
            status=422, reason=reason, exit_code=2)
    if status_code == 401:
        return KubeApiError(
            f"the Kubernetes API rejected the credentials (HTTP 401) while trying to {verb} {plural}",
            [Problem(message, where)],
            "refresh the kubeconfig or token the action uses for this cluster",
            status=401, reason=reason)
    return KubeApiError(
        f"the Kubernetes API failed to {verb} {target}: HTTP {status_code} {message}",
        [Problem(message, where)],
        "a server-side failure: retry; if it persists, check the API server and KServe webhooks"
        if status_code >= 500 else "the request was refused; the message above says why",
        status=status_code or None, reason=reason)


def unreachable(exc: BaseException, *, verb: str, plural: str, namespace: str,
                host: str | None) -> KubeApiError:
    """The API server could not be reached at all (DNS, TLS, connection refused, timeout)."""
    first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    return KubeApiError(
        f"the Kubernetes API{f' at {host}' if host else ''} is unreachable while trying to {verb} "
        f"{plural} in namespace {namespace!r}",
        [Problem(f"{type(exc).__name__}: {first}")],
        "check the kubeconfig the action uses (server address, CA certificate) and that the runner "
        "can reach the cluster")


def _user_in(message: str) -> str | None:
    found = re.search(r'User "([^"]+)"', message)
    return found.group(1) if found else None


def _sa(user: str) -> str:
    # system:serviceaccount:<ns>:<name> -> <ns>:<name>, the form rolebinding --serviceaccount takes
    return user.removeprefix("system:serviceaccount:")
