"""Metrics of a run, compared with a baseline, in the PR report and in the terminal (issue 8).

Small modules, one concern each:
- mlmd_grpcweb.py  grpc-web client for ML Metadata over requests (what KFP's UI does)
- mlmd_min.proto   the wire-compatible MLMD subset; mlmd_min_pb2.py generated from it
                   (scripts/generate_mlmd_pb2.sh)
- read.py          a run's metrics: MLMD, else the metrics file, else none; local runs
- fallback.py      the metrics file convention and its readers
- config.py        the `metrics` section of kfops.yaml (directions, key metric, tolerance, ...)
- compare.py       rows of (task, metric, value, baseline, delta, verdict)
- baseline.py      production run, else default branch, else none (ports)
- render.py        markdown table + Mermaid xychart, plain-text table for kfc
- gate.py          the optional /deploy gate on the key metric
- service.py       the calls the CLI and the Action make

Importing this package loads neither kfp, kubernetes nor requests: they are imported inside the
functions that use them.
"""

from .baseline import Baseline, BaselineRef, find_baseline, latest_run_on_commits, production_run_lookup
from .compare import BaselineInfo, Comparison, MetricRow, build_comparison, compare
from .config import DEFAULT_DIRECTIONS, MetricsConfig
from .gate import GateDecision, check_deploy_gate
from .read import RunMetrics, local_run_metrics, metrics_from_document, read_run_metrics
from .render import markdown_comparison, mermaid_chart, terminal_comparison
from .service import (compare_local_run, compare_remote_run, compare_with_baseline, deploy_gate,
                      local_run_comparison_text, remote_reader, remote_run_comparison_text)

__all__ = [
    "Baseline", "BaselineInfo", "BaselineRef", "Comparison", "DEFAULT_DIRECTIONS", "GateDecision",
    "MetricRow", "MetricsConfig", "RunMetrics", "build_comparison", "check_deploy_gate", "compare",
    "compare_local_run", "compare_remote_run", "compare_with_baseline", "deploy_gate",
    "find_baseline", "latest_run_on_commits", "local_run_comparison_text", "local_run_metrics",
    "markdown_comparison", "mermaid_chart", "metrics_from_document", "production_run_lookup",
    "read_run_metrics", "remote_reader", "remote_run_comparison_text", "terminal_comparison",
]
