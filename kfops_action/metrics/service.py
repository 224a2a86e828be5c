"""The few calls the entry points make: wire the readers, find the baseline, compare, render.

Everything below is ports and pure functions; this module only assembles them so that the CLI and
the Action do it the same way. Nothing here raises for missing metrics: a comparison with notes is
always returned, because metrics decorate a run's report and must never fail the command.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .baseline import Baseline, MetricsReader, RunLookup, as_ref, find_baseline
from .compare import BaselineInfo, Comparison, build_comparison
from .config import MetricsConfig
from .gate import GateDecision, check_deploy_gate
from .read import RunMetrics, local_run_metrics, read_run_metrics

if TYPE_CHECKING:
    from kfops_action.kubeflow.connection import Connection


def remote_reader(conn: Connection, config: MetricsConfig, *,
                  pipeline_root: str | None = None) -> MetricsReader:
    """run id -> RunMetrics, over MLMD grpc-web (unless metrics.mlmd_endpoint is "off"), then
    the metrics file through KFP UI's artifact endpoint (only when the pipeline root is known,
    i.e. pipeline.root is set in kfops.yaml)."""
    from .fallback import ArtifactsEndpointReader
    from .mlmd_grpcweb import MlmdClient

    mlmd = MlmdClient.from_connection(conn, config.mlmd_endpoint) if config.mlmd_enabled else None
    fallback = ArtifactsEndpointReader(conn, pipeline_root) if pipeline_root else None

    def read(run_id: str) -> RunMetrics:
        return read_run_metrics(run_id, mlmd=mlmd, fallback=fallback,
                                file_name=config.fallback_file)

    return read


def compare_with_baseline(candidate: RunMetrics, config: MetricsConfig, *,
                          read: MetricsReader | None, production: RunLookup | None = None,
                          default_branch: RunLookup | None = None) -> Comparison:
    """Find the baseline (production, default branch, none) and compare `candidate` with it."""
    if read is None:
        baseline = Baseline(BaselineInfo("none", notes=("no Kubeflow connection to read a "
                                                        "baseline run's metrics",)))
    else:
        baseline = find_baseline(production=production, default_branch=default_branch,
                                 read=read, exclude_run_id=candidate.run_id)
    return build_comparison(candidate.run_id, candidate.metrics, baseline.values, baseline.info,
                            config, candidate.notes, candidate.source)


def compare_remote_run(run_id: str, config: MetricsConfig, *, read: MetricsReader,
                       production: RunLookup | None = None,
                       default_branch: RunLookup | None = None) -> Comparison:
    """For a finished remote run (kfc run --wait, the Action's run report)."""
    return compare_with_baseline(read(run_id), config, read=read, production=production,
                                 default_branch=default_branch)


def compare_local_run(result: Any, config: MetricsConfig, *, read: MetricsReader | None = None,
                      production: RunLookup | None = None,
                      default_branch: RunLookup | None = None) -> Comparison:
    """For `kfc build-run --local`: the local run's metrics against a remote baseline when a
    reader (a Kubeflow connection) is given, else alone."""
    candidate = local_run_metrics(result)
    if candidate.empty:
        from .fallback import local_file_reader
        from .read import read_metrics_file

        found, _ = read_metrics_file(local_file_reader(result.outputs_dir), "",
                                     config.fallback_file)
        if found:
            candidate = RunMetrics(None, found, "metrics-file")
    return compare_with_baseline(candidate, config, read=read, production=production,
                                 default_branch=default_branch)


def deploy_gate(run_id: str, config: MetricsConfig, *, read: MetricsReader,
                production: RunLookup, force: bool = False) -> GateDecision:
    """For /deploy: the candidate run's key metric against the production model's."""
    if not config.gate_enabled:
        return GateDecision(True, "")
    candidate = read(run_id)
    ref = as_ref(production())
    prod_values: Mapping[str, Mapping[str, float]] | None = None
    if ref is not None:
        production_metrics = read(ref.run_id)
        if production_metrics.empty:
            from .gate import refuse
            from .render import md_code, md_text

            why = "; ".join(production_metrics.notes) or "no metrics"
            return refuse(f"the metrics of the production model (run {md_code(ref.run_id)}) "
                          f"cannot be read: {md_text(why, 500)}.", force, None, None)
        prod_values = production_metrics.metrics
    return check_deploy_gate(candidate.metrics, run_id, prod_values,
                             ref.run_id if ref else None, config, force=force)


# -- one call each for kfc ----------------------------------------------------------------------


def local_run_comparison_text(result: Any, metrics_section: Mapping[str, Any] | None, *,
                              conn: Connection | None = None, pipeline_root: str | None = None,
                              production: RunLookup | None = None,
                              default_branch: RunLookup | None = None) -> str:
    """What `kfc build-run --local` prints after local_run_report: the local run's metrics, against
    a remote baseline when a Kubeflow connection (and a lookup) is given."""
    config = MetricsConfig.from_config(metrics_section)
    read = remote_reader(conn, config, pipeline_root=pipeline_root) if conn is not None else None
    from .render import terminal_comparison

    return terminal_comparison(compare_local_run(result, config, read=read,
                                                 production=production,
                                                 default_branch=default_branch))


def remote_run_comparison_text(run_id: str, metrics_section: Mapping[str, Any] | None, *,
                               conn: Connection, pipeline_root: str | None = None,
                               production: RunLookup | None = None,
                               default_branch: RunLookup | None = None) -> str:
    """What `kfc run --wait` prints after run_finished_report."""
    config = MetricsConfig.from_config(metrics_section)
    from .render import terminal_comparison

    return terminal_comparison(compare_remote_run(
        run_id, config, read=remote_reader(conn, config, pipeline_root=pipeline_root),
        production=production, default_branch=default_branch))
