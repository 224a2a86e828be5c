"""The optional /deploy gate on the key metric."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kfops_action.metrics.config import MetricsConfig
from kfops_action.metrics.gate import check_deploy_gate
from kfops_action.metrics.read import RunMetrics
from kfops_action.metrics.service import deploy_gate

PROD = {"evaluate": {"accuracy": 0.93, "log_loss": 0.2}}


def gate(candidate: dict[str, dict[str, float]], production: dict[str, Any] | None = PROD,
         force: bool = False, **config: Any) -> Any:
    return check_deploy_gate(candidate, "run-pr", production, "run-prod",
                             MetricsConfig(**{"key_metric": "accuracy", **config}), force=force)


def test_off_without_a_key_metric_or_when_disabled() -> None:
    assert gate({}, key_metric=None).allowed and gate({}, key_metric=None).text == ""
    assert gate({"evaluate": {"accuracy": 0.1}}, gate=False).allowed


def test_better_or_within_tolerance_passes_and_shows_both_values() -> None:
    decision = gate({"evaluate": {"accuracy": 0.925}}, tolerance=0.01)
    assert decision.allowed and not decision.forced
    assert "0.925" in decision.text and "0.93" in decision.text and "passed" in decision.text
    assert (decision.candidate, decision.production) == (0.925, 0.93)
    assert gate({"evaluate": {"accuracy": 0.95}}).allowed


def test_worse_than_the_tolerance_is_refused_with_both_values() -> None:
    decision = gate({"evaluate": {"accuracy": 0.90}}, tolerance=0.01)
    assert not decision.allowed
    assert "0.9 for run `run-pr`, 0.93 in production (run `run-prod`)" in decision.text
    assert "worse by 0.03" in decision.text and "/deploy --force" in decision.text


def test_force_deploys_anyway_and_keeps_the_reason_on_record() -> None:
    decision = gate({"evaluate": {"accuracy": 0.5}}, force=True)
    assert decision.allowed and decision.forced
    assert "overridden with `--force`" in decision.text and "0.5" in decision.text


def test_a_lower_is_better_key_metric() -> None:
    assert not gate({"evaluate": {"log_loss": 0.3}}, key_metric="log_loss").allowed
    assert gate({"evaluate": {"log_loss": 0.1}}, key_metric="log_loss").allowed
    assert gate({"evaluate": {"log_loss": 0.205}}, key_metric="log_loss", tolerance=0.01).allowed


def test_no_model_in_production_is_a_first_deploy() -> None:
    decision = gate({"evaluate": {"accuracy": 0.5}}, production=None)
    assert decision.allowed and "no model is in production" in decision.text


def test_a_production_model_without_the_metric_cannot_be_worse() -> None:
    decision = gate({"evaluate": {"accuracy": 0.5}}, production={"evaluate": {"f1": 0.9}})
    assert decision.allowed and "did not log it" in decision.text


@pytest.mark.parametrize("candidate,config,expected", [
    ({"evaluate": {"f1": 0.9}}, {}, "this run did not log it"),
    ({"a": {"accuracy": 0.9}, "b": {"accuracy": 0.9}}, {}, "set `metrics.key_task`"),
    ({"evaluate": {"latency": 9.0}}, {"key_metric": "latency"}, "set `metrics.directions`"),
    ({"evaluate": {"accuracy": float("nan")}}, {}, "cannot be compared"),
])
def test_when_the_gate_cannot_tell_it_refuses(candidate: dict[str, Any], config: dict[str, Any],
                                              expected: str) -> None:
    production = {"evaluate": {"latency": 5.0, "accuracy": 0.9}}
    decision = gate(candidate, production=production, **config)
    assert not decision.allowed and expected in decision.text


def test_key_task_picks_among_tasks() -> None:
    candidate = {"a": {"accuracy": 0.99}, "evaluate": {"accuracy": 0.5}}
    assert not gate(candidate, key_task="evaluate").allowed
    assert gate(candidate, key_task="a", production={"a": {"accuracy": 0.9}}).allowed


def test_hostile_metric_names_stay_inert_in_the_reply() -> None:
    name = "acc|`x`<img src=x onerror=alert(1)>@org/team"
    decision = gate({"evaluate": {name: 0.1}}, production={"evaluate": {name: 0.9}},
                    key_metric=name, directions={name: "up"})
    assert not decision.allowed
    # every markdown/HTML special character of the name is backslash-escaped: inert text
    assert re.search(r"(?<!\\)[<>`|]", decision.text.split(" (task")[0]) is None
    assert "@org" not in decision.text


def test_deploy_gate_reads_both_runs_and_refuses_unreadable_production() -> None:
    metrics = {"run-pr": {"evaluate": {"accuracy": 0.8}}, "run-prod": PROD}

    def read(run_id: str) -> RunMetrics:
        if run_id in metrics:
            return RunMetrics(run_id, metrics[run_id], "mlmd")
        return RunMetrics(run_id, {}, "none", ("ML Metadata: HTTP 404",))

    config = MetricsConfig(key_metric="accuracy")
    assert not deploy_gate("run-pr", config, read=read, production=lambda: "run-prod").allowed
    assert deploy_gate("run-pr", config, read=read, production=lambda: None).allowed
    unreadable = deploy_gate("run-pr", config, read=read, production=lambda: "run-gone")
    assert not unreadable.allowed and "HTTP 404" in unreadable.text
    assert deploy_gate("run-pr", config, read=read, production=lambda: "run-gone",
                       force=True).allowed
    assert deploy_gate("run-pr", MetricsConfig(), read=read, production=lambda: "x").text == ""
