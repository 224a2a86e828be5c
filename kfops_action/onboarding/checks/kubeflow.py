"""Is Kubeflow Pipelines reachable, in which mode, and does it accept our credentials?

Two requests, both read-only: `GET /apis/v2beta1/healthz` (whether KFP runs in multi-user mode;
KFP's API server does not authenticate it, so an auth proxy in front may or may not) and a one-item
list of experiments in `pipeline.namespace`, which KFP does authorize: that one proves the token or
cookie is accepted *for that namespace*.
"""

from __future__ import annotations

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
    """Every Kubeflow finding at once: each part of the connection is resolved on its own (a
    missing token does not hide a placeholder endpoint), and the probes that cannot run say why."""
    if ctx.config is None:
        return [skip(NAME, "needs a valid kfops.yaml")]
    from ...errors import RemoteError
    from ...kubeflow.connection import resolve_connection, resolve_each_part
    from ..answers import PLACEHOLDER_ENDPOINT

    section = ctx.section("kubeflow")
    given = dict(endpoint_override=ctx.endpoint, env=ctx.env, base_dir=ctx.config.base_dir)
    where = dict(given, namespace=ctx.config.pipeline.namespace)
    parts, problems = resolve_each_part(section, **given)
    results = [fail(NAME, exc.what, exc.fix, KFP_USERS) for exc in problems.values()]
    endpoint = parts.get("endpoint")
    if endpoint == PLACEHOLDER_ENDPOINT:
        results.append(fail(NAME, f"kubeflow.endpoint is still the placeholder {PLACEHOLDER_ENDPOINT} from kfc init",
                            "set kubeflow.endpoint in kfops.yaml to your Kubeflow Pipelines API URL (or export "
                            "KF_PIPELINES_ENDPOINT)", KFP_USERS))
    blocking = sorted(set(problems) - {"auth"})
    if endpoint is None or endpoint == PLACEHOLDER_ENDPOINT or blocking:
        why = ("there is no usable endpoint" if endpoint is None or endpoint == PLACEHOLDER_ENDPOINT
               else f"kubeflow.{blocking[0]} is invalid")
        return results + [skip(NAME, f"KFP not contacted, credentials not checked: {why} (see above)")]
    if "auth" in problems:  # reachable at all? healthz needs no credentials, so ask it without any
        anonymous = Probe(resolve_connection({**section, "auth": {"type": "none"}}, **where))
        try:
            reached = f"{endpoint}: KFP answers ({MODES[_mode(anonymous)]})"
        except RemoteError as exc:
            if exc.status not in (401, 403):
                return results + [fail(NAME, exc.what, exc.fix, KFP_USERS),
                                  skip(NAME, "credentials not checked: KFP is unreachable, and they are not "
                                             "usable (see above)")]
            reached = f"{endpoint} answers, and asks for credentials (HTTP {exc.status} without them)"  # a proxy
        return results + [ok(NAME, reached),
                          skip(NAME, "credentials not checked against KFP: they are not usable (see above)")]
    conn = resolve_connection(section, **where)
    probe = Probe(conn)
    ctx.facts["kfp"] = probe
    try:
        multi_user = _mode(probe)
    except RemoteError as exc:
        return [fail(NAME, exc.what, exc.fix, KFP_USERS)]
    ctx.facts["multi_user"] = multi_user
    mode = MODES[multi_user]
    who = f"{'bearer token' if conn.token else 'session cookie'} from {conn.auth_source}" \
        if (conn.token or conn.cookie) else "no credentials"
    in_namespace = f" in namespace {conn.namespace}" if conn.namespace else ""
    try:
        probe.experiments()
    except RemoteError as exc:
        ctx.facts["kfp_denied"] = exc.status
        if exc.status == 403:
            ctx.facts["kfp_ok"] = True  # reachable and authenticated; the namespace check says more
            return [ok(NAME, f"{conn.endpoint}: KFP answers ({mode}), {who} accepted")]
        return [fail(NAME, f"{conn.endpoint} ({mode}): {exc.what}", exc.fix, KFP_USERS)]
    ctx.facts["kfp_ok"] = True
    result = ok(NAME, f"{conn.endpoint}: KFP answers ({mode}), {who} accepted{in_namespace}")
    if multi_user is None:
        return [warn(NAME, result.message + "; /apis/v2beta1/healthz is missing, so the mode is unknown",
                     "kfops needs KFP 2.x (the v2beta1 API); check the endpoint's version")]
    return [result]


MODES = {True: "multi-user", False: "single-user", None: "mode unknown (no healthz)"}


def _mode(probe: Probe) -> bool | None:
    """Whether KFP runs multi-user (None: it has no v2beta1 healthz); RemoteError when unreachable."""
    try:
        return bool(probe.healthz().multi_user)
    except NotFound:
        return None  # a KFP older than the v2beta1 healthz, or a proxy that hides it
