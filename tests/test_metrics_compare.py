"""Comparing a run's metrics with a baseline, the config's directions, and finding the baseline."""

from __future__ import annotations

import math
from typing import Any

import jsonschema
import pytest

from kfops_action.metrics.baseline import (BaselineRef, find_baseline, latest_run_on_commits,
                                           production_run_lookup)
from kfops_action.metrics.compare import (BETTER, CHANGED, DROPPED, NEW, ONLY, SAME, WORSE,
                                          BaselineInfo, build_comparison, compare, verdict)
from kfops_action.metrics.config import MetricsConfig, default_direction
from kfops_action.metrics.read import RunMetrics, local_run_metrics, metrics_from_document

BASE = {"evaluate": {"accuracy": 0.91, "f1": 0.87, "log_loss": 0.25, "test_rows": 150.0,
                     "recall": 0.80}}


def rows_by_name(candidate: dict[str, dict[str, float]],
                 baseline: dict[str, dict[str, float]] | None,
                 config: MetricsConfig | None = None) -> dict[str, Any]:
    return {f"{r.task}.{r.name}": r for r in compare(candidate, baseline, config)}


def test_a_run_that_improves() -> None:
    rows = rows_by_name({"evaluate": {"accuracy": 0.95, "f1": 0.90, "log_loss": 0.2}}, BASE)
    assert [rows[k].verdict for k in ("evaluate.accuracy", "evaluate.f1", "evaluate.log_loss")] \
        == [BETTER, BETTER, BETTER]
    assert rows["evaluate.accuracy"].delta == pytest.approx(0.04)
    assert rows["evaluate.log_loss"].delta == pytest.approx(-0.05)


def test_a_run_that_regresses() -> None:
    rows = rows_by_name({"evaluate": {"accuracy": 0.85, "log_loss": 0.4}}, BASE)
    assert rows["evaluate.accuracy"].verdict == WORSE and rows["evaluate.log_loss"].verdict == WORSE


def test_added_and_dropped_metrics_and_tasks() -> None:
    rows = rows_by_name({"evaluate": {"accuracy": 0.91, "auc": 0.97},
                         "slices": {"accuracy": 0.5}}, BASE)
    assert rows["evaluate.auc"].verdict == NEW and rows["evaluate.auc"].baseline is None
    assert rows["slices.accuracy"].verdict == NEW
    assert rows["evaluate.accuracy"].verdict == SAME
    for name in ("f1", "log_loss", "test_rows", "recall"):
        row = rows[f"evaluate.{name}"]
        assert row.verdict == DROPPED and row.value is None and row.delta is None
    order = [f"{r.task}.{r.name}" for r in compare({"evaluate": {"auc": 1.0}}, BASE)]
    assert order[0] == "evaluate.auc"  # the run's own metrics first, then the dropped ones


def test_no_baseline_lists_the_run_alone() -> None:
    rows = compare({"evaluate": {"accuracy": 0.9}}, None)
    assert [(r.verdict, r.baseline, r.delta) for r in rows] == [(ONLY, None, None)]


def test_an_empty_baseline_run_makes_everything_new() -> None:
    assert [r.verdict for r in compare({"t": {"a": 1.0, "b": 2.0}}, {})] == [NEW, NEW]


def test_unknown_direction_has_no_verdict_but_a_delta() -> None:
    rows = rows_by_name({"evaluate": {"test_rows": 160.0}}, BASE)
    assert rows["evaluate.test_rows"].verdict == CHANGED
    assert rows["evaluate.test_rows"].delta == 10.0


@pytest.mark.parametrize("value,base,direction,expected", [
    (0.9, 0.8, "up", BETTER), (0.8, 0.9, "up", WORSE), (0.2, 0.3, "down", BETTER),
    (0.3, 0.2, "down", WORSE), (0.3, 0.3, "down", SAME), (1.0, 2.0, "none", CHANGED),
    (0.1 + 0.2, 0.3, "up", SAME),  # float noise is not a change
    (math.nan, 0.3, "up", CHANGED), (math.nan, math.nan, "up", SAME),
    (math.inf, 1.0, "up", CHANGED), (math.inf, math.inf, "down", SAME),
])
def test_verdicts(value: float, base: float, direction: str, expected: str) -> None:
    assert verdict(value, base, direction) == expected


@pytest.mark.parametrize("name,direction", [
    ("accuracy", "up"), ("F1", "up"), ("roc_auc", "up"), ("r2", "up"), ("precision", "up"),
    ("loss", "down"), ("log_loss", "down"), ("rmse", "down"), ("MAE", "down"), ("error", "down"),
    ("val_accuracy", "up"), ("test/log_loss", "down"), ("eval-rmse", "down"),
    ("test_rows", "none"), ("lossy_count", "none"), ("n", "none"), ("", "none"),
])
def test_default_directions(name: str, direction: str) -> None:
    assert default_direction(name) == direction


def test_configured_directions_win_over_the_defaults() -> None:
    config = MetricsConfig.from_config({"pipeline": {}, "metrics": {
        "directions": {"accuracy": "none", "latency_ms": "down", "test_rows": "up"}}})
    rows = rows_by_name({"e": {"accuracy": 0.99, "latency_ms": 10.0, "test_rows": 200.0}},
                        {"e": {"accuracy": 0.5, "latency_ms": 20.0, "test_rows": 100.0}}, config)
    assert [rows[k].verdict for k in ("e.accuracy", "e.latency_ms", "e.test_rows")] == \
        [CHANGED, BETTER, BETTER]


def test_config_defaults_and_the_section_alone() -> None:
    assert MetricsConfig.from_config(None) == MetricsConfig()
    assert MetricsConfig.from_config({"pipeline": {"file": "p.py"}}) == MetricsConfig()
    config = MetricsConfig.from_config({"key_metric": "f1", "tolerance": 0.01,
                                        "mlmd_endpoint": "off"})
    assert config.key_metric == "f1" and config.tolerance == 0.01 and config.gate_enabled
    assert not config.mlmd_enabled and config.fallback_file == "kfops-metrics.json"
    assert not MetricsConfig.from_config({"key_metric": "f1", "gate": False}).gate_enabled


def _schema() -> dict[str, Any]:
    from kfops_action.config.validation import schema

    return schema()


def test_the_schema_accepts_a_metrics_section() -> None:
    doc = {"pipeline": {"file": "p.py", "function": "f"}, "metrics": {
        "directions": {"accuracy": "up", "latency ms": "down", "n": "none"},
        "key_metric": "accuracy", "key_task": "evaluate", "tolerance": 0.005, "gate": True,
        "fallback_file": "metrics.json", "mlmd_endpoint": "http://localhost:8080"}}
    jsonschema.validate(doc, _schema())
    jsonschema.validate({**doc, "metrics": {"mlmd_endpoint": "off"}}, _schema())


@pytest.mark.parametrize("section", [
    {"directions": {"accuracy": "higher"}}, {"tolerance": -1}, {"unknown": 1},
    {"fallback_file": "../etc/passwd"}, {"fallback_file": "a/b.json"},
    {"mlmd_endpoint": "ftp://x"}, {"key_metric": ""}, {"gate": "yes"},
])
def test_the_schema_refuses_a_bad_metrics_section(section: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"pipeline": {"file": "p.py", "function": "f"}, "metrics": section},
                            _schema())


def test_the_metrics_section_cannot_be_overridden_from_a_comment() -> None:
    """A PR comment's --set must not switch the gate off."""
    from kfops_action.config.overrides import OVERRIDABLE

    assert OVERRIDABLE == "pipeline"


# -- reading helpers --------------------------------------------------------------------------


class _Task:
    def __init__(self, name: str, metrics: dict[str, Any]) -> None:
        self.name, self.metrics = name, metrics


class _Local:
    def __init__(self, tasks: list[_Task]) -> None:
        self.tasks = tasks


def test_local_run_metrics_keep_numbers_only() -> None:
    result = local_run_metrics(_Local([_Task("evaluate", {"accuracy": 0.9, "n": 3, "ok": True,
                                                         "tag": "x", "l": [1]}),
                                       _Task("train", {})]))
    assert result.source == "local" and result.metrics == {"evaluate": {"accuracy": 0.9, "n": 3.0}}
    empty = local_run_metrics(_Local([_Task("train", {"tag": "x"})]))
    assert empty.source == "none" and empty.empty and empty.notes


def test_metrics_document_forms() -> None:
    assert metrics_from_document({"evaluate": {"accuracy": 0.9, "x": "y"}, "auc": 0.8,
                                  "flag": True, "empty": {}}, "evaluate") == \
        {"evaluate": {"accuracy": 0.9, "auc": 0.8}}
    with pytest.raises(ValueError):
        metrics_from_document([1, 2])


# -- baseline ---------------------------------------------------------------------------------


def reader(known: dict[str, dict[str, dict[str, float]]]) -> Any:
    def read(run_id: str) -> RunMetrics:
        if run_id in known:
            return RunMetrics(run_id, known[run_id], "mlmd")
        return RunMetrics(run_id, {}, "none", (f"ML Metadata has no run {run_id}",))

    return read


RUNS = {"prod-run": {"evaluate": {"accuracy": 0.9}}, "main-run": {"evaluate": {"accuracy": 0.8}}}


def test_production_comes_first() -> None:
    found = find_baseline(production=lambda: BaselineRef("prod-run", "InferenceService a/b"),
                          default_branch=lambda: "main-run", read=reader(RUNS))
    assert (found.info.kind, found.info.run_id, found.info.detail) == \
        ("production", "prod-run", "InferenceService a/b")
    assert found.values == RUNS["prod-run"]


def test_default_branch_when_nothing_is_in_production() -> None:
    found = find_baseline(production=lambda: None, default_branch=lambda: "main-run",
                          read=reader(RUNS))
    assert (found.info.kind, found.info.run_id) == ("default-branch", "main-run")
    assert found.info.notes == ("the production model: none found",)


def test_an_unreadable_production_run_falls_through_with_a_note() -> None:
    found = find_baseline(production=lambda: "gone-run", default_branch=lambda: "main-run",
                          read=reader(RUNS))
    assert found.info.kind == "default-branch"
    assert "gone-run has no readable metrics (ML Metadata has no run gone-run)" in \
        found.info.notes[0]


def test_a_failing_lookup_is_a_note() -> None:
    def broken() -> str:
        raise RuntimeError("kube-apiserver unreachable")

    found = find_baseline(production=broken, default_branch=None, read=reader(RUNS))
    assert found.info.kind == "none" and found.values is None
    assert found.info.notes == ("the production model: lookup failed (kube-apiserver unreachable)",
                                "the default branch: not configured")


def test_no_baseline_at_all() -> None:
    found = find_baseline(production=None, default_branch=lambda: None, read=reader(RUNS))
    assert found.info == BaselineInfo("none", None, "", ("the production model: not configured",
                                                         "the default branch: none found"))


def test_the_run_itself_is_no_baseline() -> None:
    found = find_baseline(production=lambda: "prod-run", default_branch=None, read=reader(RUNS),
                          exclude_run_id="prod-run")
    assert found.info.kind == "none"


def test_production_run_from_the_inference_service_annotations() -> None:
    from kfops_action.deploy.annotations import provenance_annotations

    annotations = provenance_annotations({"pr": 12, "commit": "0123456789abcdef", "run_id": "r-1",
                                          "actor": "alice"}, environment="production")
    isvc = {"metadata": {"name": "churn", "namespace": "ml-prod", "annotations": annotations}}
    assert production_run_lookup(lambda: isvc)() == \
        BaselineRef("r-1", "InferenceService ml-prod/churn, PR #12, commit 0123456")
    assert production_run_lookup(lambda: None)() is None
    assert production_run_lookup(lambda: {"metadata": {"annotations": {}}})() is None


def test_latest_successful_run_on_the_default_branch() -> None:
    runs = [
        {"run_id": "a", "state": "SUCCEEDED", "description": "kfops: p at 1111111aaaa",
         "created_at": "2026-01-01T00:00:00Z"},
        {"run_id": "b", "state": "FAILED", "description": "kfops: p at 2222222bbbb",
         "created_at": "2026-01-03T00:00:00Z"},
        {"run_id": "c", "state": "SUCCEEDED", "description": "kfops: p at 1111111aaaa",
         "created_at": "2026-01-02T00:00:00Z"},
        {"run_id": "d", "state": "SUCCEEDED", "description": "someone else's run",
         "created_at": "2026-01-04T00:00:00Z"},
    ]
    # newest commit first: 2222222 has only a failed run, so 1111111's latest success wins
    assert latest_run_on_commits(runs, ["2222222bbbbcccc", "1111111aaaacccc"]) == \
        BaselineRef("c", "default branch at 1111111")
    assert latest_run_on_commits(runs, ["3333333"]) is None


def test_build_comparison_drops_baseline_values_when_there_is_none() -> None:
    comparison = build_comparison("r", {"t": {"a": 1.0}}, {"t": {"a": 2.0}},
                                  BaselineInfo("none"), MetricsConfig(key_metric="a"))
    assert [r.verdict for r in comparison.rows] == [ONLY]
    assert comparison.is_key(comparison.rows[0]) and not comparison.has_baseline


def test_importing_the_package_loads_no_heavy_client() -> None:
    """kfc imports it for every run: kfp, kubernetes and requests load only when used."""
    import subprocess
    import sys

    code = ("import sys, kfops_action.metrics; "
            "print(sorted(m for m in ('kfp', 'kubernetes', 'requests', 'kfp_server_api') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
