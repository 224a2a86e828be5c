"""Can kfops reach the Kubernetes cluster with the kubeconfig it will use?

Only asked when the configuration needs the cluster: `/deploy` (a `deployment` section) or the
Kaniko builder. The identity is the one in KUBECONFIG (else ~/.kube/config, else the in-cluster
service account): run `kfc doctor` with the kubeconfigs you store as secrets to check what the Action
will be allowed to do, not what your own admin account may. There are two: KFOPS_BUILD_KUBECONFIG
(the pipeline job's, for Kaniko builds) and KFOPS_KUBECONFIG (the deploy job's, for /deploy).
"""

from __future__ import annotations

from .. import rbac
from . import Context, Result, fail, ok, short, skip

NAME = "cluster"
KUBECONFIG_FIX = (f"point KUBECONFIG at a kubeconfig for the cluster (the one stored as {rbac.BUILD_SECRET} to check "
                  f"builds, as {rbac.DEPLOY_SECRET} to check deploys), or pass --context NAME")


def check(ctx: Context) -> list[Result]:
    if ctx.config is None:
        return [skip(NAME, "needs a valid kfops.yaml")]
    if not ctx.needs_cluster:
        return [skip(NAME, "nothing configured needs the cluster (no deployment section, builder is not kaniko)")]
    users = ctx.cluster_users()
    client, identity, error = ctx.kube()
    if client is None:
        return [fail(NAME, f"cannot load Kubernetes credentials: {error}", KUBECONFIG_FIX, users)]
    from kubernetes import client as k

    try:
        version = k.VersionApi(client).get_code(_request_timeout=10)
    except Exception as exc:  # noqa: BLE001 - unreachable, TLS, 401: all mean "cannot use it"
        ctx.facts["kube_error"] = short(exc)
        return [fail(NAME, f"{identity}: the API server does not answer: {short(exc)}",
                     "check the server address and credentials in the kubeconfig (VPN, firewall, expired token)",
                     users)]
    ctx.facts["kube_ok"] = True
    return [ok(NAME, f"{identity}: Kubernetes {version.git_version} answers")]
