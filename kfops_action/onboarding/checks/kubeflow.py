"""Is Kubeflow Pipelines reachable, in which mode, and does it accept our credentials?

Two requests, both read-only: `GET /apis/v2beta1/healthz` (whether KFP runs in multi-user mode;
KFP's API server does not authenticate it, so an auth proxy in front may or may not) and a one-item
list of experiments in `pipeline.namespace`, which KFP does authorize: that one proves the token or
cookie is accepted *for that namespace*.
"""

from __future__ import annotations

import re
from typing import Any

from ...kubeflow.remote import API, KfpRemote, NotFound
from . import PIPELINE_COMMANDS, Context, Result, fail, ok, skip, warn

NAME = "kubeflow"
KFP_USERS = PIPELINE_COMMANDS + ("/status", "/cancel")


class Probe(KfpRemote):
    """Read-only calls `kfc doctor` needs beyond the build and run ones."""

    def healthz(self) -> Any:
        import kfp_server_api

        api = kfp_server_api.HealthzServiceApi(self._api().pipelines.api_client)
        return self._call("check the API server's health", f"{API}/healthz", api.healthz_service_get_healthz)

    def experiments(self, name: str | None = None, limit: int = 1) -> list[Any]:
        """Experiments visible in the namespace (`name`: only the one with that display name)."""
        from ...kubeflow.remote import _equals

        kwargs: dict[str, Any] = dict(self._ns_kwargs(), page_size=limit)
        if name is not None:
            kwargs["filter"] = _equals("display_name", name)
        page = self._call("list experiments", f"{API}/experiments",
                          self._api().experiments.experiment_service_list_experiments, **kwargs)
        return list(page.experiments or [])


def check(ctx: Context) -> list[Result]:
    if ctx.config is None:
        return [skip(NAME, "needs a valid kfops.yaml")]
    from ...errors import ConfigError, RemoteError
    from ...kubeflow.connection import resolve_connection

    try:
        conn = resolve_connection(ctx.section("kubeflow"), namespace=ctx.config.pipeline.namespace,
                                  endpoint_override=ctx.endpoint, env=ctx.env, base_dir=ctx.config.base_dir)
    except ConfigError as exc:
        fix = exc.fix
        missing = re.match(r"environment variable (\S+) is not set", exc.what)
        if missing:  # say how the Action gets it, not only how a shell does
            secret = "KFOPS_KUBEFLOW_COOKIE" if "COOKIE" in missing.group(1) else "KFOPS_KUBEFLOW_TOKEN"
            kind = "kubeflow-cookie" if "COOKIE" in missing.group(1) else "kubeflow-token"
            fix = (f"export {missing.group(1)} here; for the Action, create the repository secret {secret} "
                   f"(the workflow passes it as the {kind} input)")
        return [fail(NAME, exc.what, fix, KFP_USERS)]
    from ..answers import PLACEHOLDER_ENDPOINT

    if conn.endpoint == PLACEHOLDER_ENDPOINT:
        return [fail(NAME, f"kubeflow.endpoint is still the placeholder {PLACEHOLDER_ENDPOINT} from kfc init",
                     "set kubeflow.endpoint in kfops.yaml to your Kubeflow Pipelines API URL (or export "
                     "KF_PIPELINES_ENDPOINT)", KFP_USERS)]
    probe = Probe(conn)
    ctx.facts["kfp"] = probe
    try:
        health = probe.healthz()
        multi_user: bool | None = bool(health.multi_user)
    except NotFound:
        multi_user = None  # a KFP older than the v2beta1 healthz, or a proxy that hides it
    except RemoteError as exc:
        return [fail(NAME, exc.what, exc.fix, KFP_USERS)]
    ctx.facts["multi_user"] = multi_user
    mode = {True: "multi-user", False: "single-user", None: "mode unknown (no healthz)"}[multi_user]
    who = f"{'bearer token' if conn.token else 'session cookie'} from {conn.auth_source}" \
        if (conn.token or conn.cookie) else "no credentials"
    where = f" in namespace {conn.namespace}" if conn.namespace else ""
    try:
        probe.experiments()
    except RemoteError as exc:
        ctx.facts["kfp_denied"] = exc.status
        if exc.status == 403:
            ctx.facts["kfp_ok"] = True  # reachable and authenticated; the namespace check says more
            return [ok(NAME, f"{conn.endpoint}: KFP answers ({mode}), {who} accepted")]
        return [fail(NAME, f"{conn.endpoint} ({mode}): {exc.what}", exc.fix, KFP_USERS)]
    ctx.facts["kfp_ok"] = True
    result = ok(NAME, f"{conn.endpoint}: KFP answers ({mode}), {who} accepted{where}")
    if multi_user is None:
        return [warn(NAME, result.message + "; /apis/v2beta1/healthz is missing, so the mode is unknown",
                     "kfops needs KFP 2.x (the v2beta1 API); check the endpoint's version")]
    return [result]
