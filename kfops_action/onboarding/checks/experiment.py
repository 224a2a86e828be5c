"""The Kubeflow namespace the runs go into: needed in multi-user mode, usable, existing.

In multi-user Kubeflow every run lives in a profile namespace and KFP checks the caller against it,
so a missing `pipeline.namespace`, a typo in it, or a token whose user is not a contributor there
are the first things a new user meets, each as an opaque 403 on the first /build_run.
"""

from __future__ import annotations

from . import PIPELINE_COMMANDS, Context, Result, fail, kube_status, ok, short, skip, warn

NAME = "namespace"


def check(ctx: Context) -> list[Result]:
    if ctx.config is None or not ctx.facts.get("kfp_ok"):
        return [skip(NAME, "needs Kubeflow to answer (see the kubeflow line)")]
    from ...errors import RemoteError

    probe = ctx.facts["kfp"]
    settings = ctx.config.pipeline
    namespace, multi_user = settings.namespace, ctx.facts.get("multi_user")
    if not namespace:
        if multi_user:
            return [fail(NAME, "Kubeflow runs in multi-user mode but pipeline.namespace is not set",
                         "set pipeline.namespace in kfops.yaml to your Kubeflow profile namespace "
                         "(the namespace picker in the Kubeflow UI shows it)", PIPELINE_COMMANDS)]
        return [ok(NAME, f"single-user Kubeflow: no namespace needed; experiment {settings.experiment!r} "
                         + _experiment_state(probe, settings.experiment))]
    if multi_user is False:
        return [warn(NAME, f"pipeline.namespace is {namespace!r} but Kubeflow runs in single-user mode, "
                           "where namespaces are not used", "remove pipeline.namespace from kfops.yaml")]
    if ctx.facts.get("kfp_denied") == 403:
        return [fail(NAME, f"KFP refuses access to namespace {namespace!r} (HTTP 403)"
                     + _cluster_says(ctx, namespace)[1],
                     f"ask an owner of the profile {namespace!r} to add the user behind the token as a "
                     "contributor (Kubeflow UI: Manage Contributors), or fix pipeline.namespace",
                     PIPELINE_COMMANDS)]
    try:
        state = _experiment_state(probe, settings.experiment)
    except RemoteError as exc:  # pragma: no cover - the list worked a moment ago
        return [fail(NAME, exc.what, exc.fix, PIPELINE_COMMANDS)]
    exists, said = _cluster_says(ctx, namespace)
    if exists is False:
        return [fail(NAME, f"namespace {namespace!r}: KFP accepts it{said}",
                     "create the Kubeflow profile (a Profile object names its namespace), or fix pipeline.namespace",
                     PIPELINE_COMMANDS)]
    return [ok(NAME, f"namespace {namespace!r} is usable{said}; experiment {settings.experiment!r} {state}")]


def _experiment_state(probe: object, experiment: str) -> str:
    found = probe.experiments(name=experiment)  # type: ignore[attr-defined]
    return "exists" if found else "will be created by the first run"


def _cluster_says(ctx: Context, namespace: str) -> tuple[bool | None, str]:
    """(exists?, a phrase) from the Kubernetes API, when a cluster is configured at all."""
    client, _, _ = ctx.kube()
    if client is None:
        return None, ""
    from kubernetes import client as k

    try:
        k.CoreV1Api(client).read_namespace(namespace, _request_timeout=10)
    except Exception as exc:  # noqa: BLE001 - any failure only means "cannot tell"
        status = kube_status(exc)
        if status == 404:
            return False, f"; the cluster has no namespace {namespace!r}"
        if status == 403:
            return None, " (the cluster does not let this identity read namespaces to confirm it exists)"
        return None, f" (the cluster could not be asked: {short(exc)})"
    return True, " and exists in the cluster"
