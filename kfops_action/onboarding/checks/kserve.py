"""Is KServe installed, and which deployment mode do new InferenceServices get?

The CRD is found through API discovery (`GET /apis/serving.kserve.io/v1beta1`), which every
authenticated identity may read, rather than by reading the CustomResourceDefinition, which needs
cluster-wide rights a deploy account should not have.

The default mode matters because KServe silently ignores `canaryTrafficPercent` in RawDeployment
(Standard) mode: `/deploy` refuses such a deploy unless `raw_deployment: replace`. KServe keeps its
default in the `deploy` key of the `inferenceservice-config` ConfigMap in the `kserve` namespace
(`{"defaultDeploymentMode": "Serverless"}`); when that cannot be read, KServe's own default is
Serverless, but the cluster may differ, so the line says it could not tell.
"""

from __future__ import annotations

import json
from typing import Any

from ...deploy import mode as modes
from . import DEPLOY_COMMANDS, Context, Result, fail, kube_status, ok, short, skip, warn

NAME = "kserve"
GROUP, VERSION = "serving.kserve.io", "v1beta1"
CONFIG_NAMESPACE, CONFIG_MAP = "kserve", "inferenceservice-config"


def check(ctx: Context) -> list[Result]:
    if ctx.config is None or not ctx.environments:
        return [skip(NAME, "no deployment section: nothing is deployed")]
    if not ctx.facts.get("kube_ok"):
        return [skip(NAME, "needs the cluster (see the cluster line)")]
    client, _, _ = ctx.kube()
    users = tuple(u for u in ctx.cluster_users() if u in DEPLOY_COMMANDS or u.startswith("/deploy to "))
    try:
        resources = client.call_api(f"/apis/{GROUP}/{VERSION}", "GET", response_type="object",
                                    auth_settings=["BearerToken"], _return_http_data_only=True,
                                    _request_timeout=10)
    except Exception as exc:  # noqa: BLE001
        if kube_status(exc) == 404:
            return [fail(NAME, f"KServe is not installed: the cluster serves no {GROUP}/{VERSION} API",
                         "install KServe (its InferenceService CRD and controller); see docs/cluster.md", users)]
        return [fail(NAME, f"cannot ask the cluster for the KServe API: {short(exc)}",
                     "check the cluster line above", users)]
    names = {r.get("name") for r in (resources or {}).get("resources", []) if isinstance(r, dict)}
    if "inferenceservices" not in names:
        return [fail(NAME, f"the {GROUP}/{VERSION} API has no inferenceservices resource",
                     "install or upgrade KServe (v0.9 or later)", users)]
    default, source = _default_mode(client)
    ctx.facts["kserve_default"] = default
    if default is None:
        return [warn(NAME, f"InferenceService CRD installed; default deployment mode unknown ({source})",
                     "ask a cluster admin which mode KServe uses; `kubectl get cm -n kserve inferenceservice-config "
                     "-o jsonpath='{.data.deploy}'` shows it")]
    refusing = [name for name, env in ctx.environments.items()
                if default == modes.STANDARD and env.get("raw_deployment", "refuse") == "refuse"
                and _template_mode(ctx, name) != modes.KNATIVE]
    line = f"InferenceService CRD installed; new InferenceServices default to {default} mode ({source})"
    if refusing:
        return [fail(NAME, line + f": /deploy would refuse the canary for {', '.join(refusing)}",
                     " or ".join(f"set deployment.{n}.raw_deployment: replace" for n in refusing)
                     + ", or annotate the template with serving.kserve.io/deploymentMode: Serverless "
                       "(needs Knative)", users)]
    return [ok(NAME, line)]


def _default_mode(client: Any) -> tuple[str | None, str]:
    from kubernetes import client as k

    where = f"ConfigMap {CONFIG_NAMESPACE}/{CONFIG_MAP}"
    try:
        cm = k.CoreV1Api(client).read_namespaced_config_map(CONFIG_MAP, CONFIG_NAMESPACE, _request_timeout=10)
    except Exception as exc:  # noqa: BLE001
        status = kube_status(exc)
        reason = {403: "not allowed to read", 404: "no"}.get(status or 0)
        return None, f"{reason} {where}" if reason else f"cannot read {where}: {short(exc)}"
    raw = (cm.data or {}).get("deploy")
    if not raw:
        return modes.KNATIVE, f"{where} has no deploy key: KServe's default"
    try:
        value = json.loads(raw).get("defaultDeploymentMode")
    except (ValueError, AttributeError):
        return None, f"{where}: the deploy key is not JSON"
    return modes.normalise(value) or None, f"{where}: defaultDeploymentMode {value}"


def _template_mode(ctx: Context, environment: str) -> str | None:
    """The mode the environment's rendered template asks for (see the template check)."""
    manifest = ctx.facts.get("manifests", {}).get(environment)
    return modes.normalise(modes.annotation_mode(manifest)) if manifest else None
