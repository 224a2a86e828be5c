"""A finished run's metrics in its report: compared with a baseline, as a table and a chart.

Computed once, when a run is seen SUCCEEDED (by the job that follows it, by `/status`, or by the
scheduled hand-over), over the Kubeflow connection the run was followed with. The `metrics`
settings come from the base branch's kfops.yaml (like `kubeflow` and `deployment`). The baseline
is the run serving in production (the InferenceService's `kfops/run-id` annotation) when cluster
credentials are there (KUBECONFIG) and deployment.production is configured; the default branch's
latest run is not looked up yet. Metrics decorate the report: any failure becomes a one-line note,
never a failed command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..kubeflow.connection import Connection
    from ..metrics.baseline import RunLookup
    from .runs import RunRecord

TITLE = "Metrics"


def production_lookup(base_data: Mapping[str, Any] | None, env: Mapping[str, str]) -> RunLookup | None:
    """The production baseline's lookup, or None (reported as "not configured") without a
    kubeconfig or without deployment.production on the base branch."""
    production = ((base_data or {}).get("deployment") or {}).get("production") or {}
    if not (env.get("KUBECONFIG") or "").strip() or not production.get("namespace") \
            or not production.get("inference_service"):
        return None
    from ..metrics.baseline import production_run_lookup
    from .deploy_handler import kube_client, production_isvc_reader

    api: list[Any] = []

    def kube() -> Any:
        if not api:
            api.append(kube_client(env))
        return api[0]

    return production_run_lookup(production_isvc_reader(base_data, kube))


def metrics_section(run_id: str, conn: Connection, base_data: Mapping[str, Any] | None, *,
                    env: Mapping[str, str], pipeline_root: str | None = None,
                    log: Callable[[str], None] | None = None) -> str:
    """The markdown block for the run's report; never raises."""
    try:
        from ..metrics.config import MetricsConfig
        from ..metrics.render import markdown_comparison
        from ..metrics.service import compare_remote_run, remote_reader

        data = base_data or {}
        section = data.get("metrics") if isinstance(data.get("metrics"), Mapping) else {}
        config = MetricsConfig.from_config(section)
        comparison = compare_remote_run(
            run_id, config, read=remote_reader(conn, config, pipeline_root=pipeline_root),
            production=production_lookup(data, env), default_branch=None)
        return markdown_comparison(comparison, title=TITLE)
    except Exception as exc:  # noqa: BLE001 - metrics must never fail the command
        what = str(getattr(exc, "what", None) or exc or type(exc).__name__).splitlines()
        reason = (what[0] if what else type(exc).__name__)[:300]
        if log is not None:
            log(f"warning: the metrics of run {run_id} could not be compared: {reason}")
        from ..github.render import code

        return f"### {TITLE}\n\nThe metrics could not be compared: {code(reason)}"


def sections_for(conn: Connection, base_data: Mapping[str, Any] | None, *, env: Mapping[str, str],
                 pipeline_root: str | None = None,
                 log: Callable[[str], None] | None = None) -> Callable[[RunRecord], list[str]]:
    """A finished run's report sections (for tracking.refresh): the metrics when it succeeded."""
    def sections(run: RunRecord) -> list[str]:
        if not run.succeeded:
            return []
        return [metrics_section(run.run_id, conn, base_data, env=env, pipeline_root=pipeline_root, log=log)]

    return sections
