"""The namespaces kfops deploys and builds in, and the service accounts and secrets they name.

A missing namespace or service account otherwise shows up late: the InferenceService is accepted
and then never becomes Ready (its pods cannot be created), or a Kaniko Job waits forever for a
secret. What is checked, per namespace:

- deployment.<env>.namespace, and the predictor's `serviceAccountName` from the rendered template;
- images.kaniko.namespace, with its service_account, registry_secret (holding the key
  registry_secret_key, which the build pods mount) and git_secret.

A deploy account usually may not read namespaces or secrets: then the line says it could not
verify (warn), which is not a failure.
"""

from __future__ import annotations

from typing import Any

from ...images.kaniko_job import DOCKERCONFIGJSON, REGISTRY_SECRET_KEYS
from . import Context, Result, deploy_command, fail, kube_status, ok, skip, warn

NAME = "namespaces"


def check(ctx: Context) -> list[Result]:
    if ctx.config is None or not ctx.needs_cluster:
        return [skip(NAME, "nothing configured needs the cluster")]
    if not ctx.facts.get("kube_ok"):
        return [skip(NAME, "needs the cluster (see the cluster line)")]
    from kubernetes import client as k

    core = k.CoreV1Api(ctx.kube()[0])
    wanted: dict[str, tuple[list[tuple[str, str, str, str | None]], tuple[str, ...]]] = {}
    for name, env in ctx.environments.items():
        command = deploy_command(name)
        objects, users = wanted.setdefault(env["namespace"], ([], ()))
        account = _predictor_account(ctx.facts.get("manifests", {}).get(name))
        if account:
            objects.append(("service account", account, f"the predictor's serviceAccountName ({name} template)",
                            None))
        wanted[env["namespace"]] = (objects, users + (command,))
    if ctx.builder == "kaniko":
        kaniko = ctx.section("images").get("kaniko") or {}
        if kaniko.get("namespace"):
            objects, users = wanted.setdefault(kaniko["namespace"], ([], ()))
            for kind, key in (("service account", "service_account"), ("secret", "registry_secret"),
                              ("secret", "git_secret")):
                if kaniko.get(key):  # the registry secret must also hold the key the build pods mount
                    data_key = kaniko.get("registry_secret_key", DOCKERCONFIGJSON) if key == "registry_secret" \
                        else None
                    objects.append((kind, kaniko[key], f"images.kaniko.{key}", data_key))
            wanted[kaniko["namespace"]] = (objects, users + ("/build",))
    return [_namespace(core, namespace, objects, users) for namespace, (objects, users) in wanted.items()]


def _namespace(core: Any, namespace: str, objects: list[tuple[str, str, str, str | None]],
               users: tuple[str, ...]) -> Result:
    """One line for a namespace: `objects` are (kind, name, why it is needed, the Secret key it must hold)."""
    found, unverified, missing = [], [], []
    status = _status(lambda: core.read_namespace(namespace, _request_timeout=10))
    if status == 404:
        return fail(NAME, f"namespace {namespace!r} does not exist",
                    f"kubectl create namespace {namespace} (or apply the kfops-cluster.yaml `kfc init` wrote)", users)
    for kind, name, why, key in objects:
        read = (core.read_namespaced_service_account if kind == "service account"
                else core.read_namespaced_secret)
        got: list[Any] = []
        state = _status(lambda: got.append(read(name, namespace, _request_timeout=10)))
        text = f"{kind} {name}"
        if state == 404:
            missing.append(f"{text} ({why})")
        elif state is None and key is not None and key not in (got[0].data or {}):
            keys = sorted(got[0].data or {})
            other = next((k for k in REGISTRY_SECRET_KEYS if k in keys), None)
            return fail(NAME, f"{text} has no key {key!r} (its keys: {', '.join(keys) or 'none'}): the build pods "
                              "cannot mount its docker config", f"set images.kaniko.registry_secret_key: {other}"
                        if other else f"put the docker config.json in {text} under the key {key}", users)
        elif state == 403:
            unverified.append(text)
        elif state is None:
            found.append(text)
        else:
            unverified.append(f"{text} (HTTP {state})")
    head = (f"namespace {namespace!r} exists" if status is None
            else f"namespace {namespace!r}: cannot verify it exists ({_why(status)})")
    parts = [head] + ([", ".join(found) + " present"] if found else [])
    if missing:
        return fail(NAME, "; ".join(parts + ["missing: " + ", ".join(missing)]),
                    f"create them in namespace {namespace} (kubectl create serviceaccount / secret), or fix kfops.yaml",
                    users)
    if unverified or status is not None:
        if unverified:
            parts.append("not allowed to read " + ", ".join(unverified))
        return warn(NAME, "; ".join(parts), "nothing to do if you created them; run kfc doctor with an "
                                            "identity that may read them to be sure")
    return ok(NAME, "; ".join(parts))


def _status(call: Any) -> int | None:
    """None when the read worked, else the HTTP status (0 when there was no answer)."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001
        return kube_status(exc) or 0
    return None


def _why(status: int) -> str:
    return "this identity may not read namespaces" if status == 403 else f"HTTP {status}" if status else "no answer"


def _predictor_account(manifest: dict[str, Any] | None) -> str | None:
    predictor = ((manifest or {}).get("spec") or {}).get("predictor") or {}
    account = predictor.get("serviceAccountName")
    return account if isinstance(account, str) and account else None


