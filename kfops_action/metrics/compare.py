"""A run's metrics against a baseline's: one row per (task, metric), with the verdict.

Pure: no I/O, so the PR report, the job summary and the terminal all show the same verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .config import DOWN, UP, MetricsConfig

BETTER, WORSE, SAME, CHANGED = "better", "worse", "same", "changed"
NEW, DROPPED, ONLY = "new", "dropped", "only"  # ONLY: there is no baseline at all

_REL_EPSILON = 1e-9


@dataclass(frozen=True)
class MetricRow:
    task: str
    name: str
    value: float | None      # None: dropped (only the baseline has it)
    baseline: float | None   # None: new, or no baseline
    direction: str           # "up", "down", "none"
    verdict: str

    @property
    def delta(self) -> float | None:
        if self.value is None or self.baseline is None:
            return None
        if not (math.isfinite(self.value) and math.isfinite(self.baseline)):
            return None
        return self.value - self.baseline


@dataclass(frozen=True)
class BaselineInfo:
    """What the run was compared with, for the report's first line."""

    kind: str                 # "production", "default-branch", "none"
    run_id: str | None = None
    detail: str = ""          # e.g. "InferenceService ml-production/churn", "main @ 1a2b3c4"
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    run_id: str | None
    rows: tuple[MetricRow, ...]
    baseline: BaselineInfo
    notes: tuple[str, ...] = field(default=())
    key_metric: str | None = None
    key_task: str | None = None
    source: str | None = None     # where the run's metrics were read: mlmd, metrics-file, local

    @property
    def has_baseline(self) -> bool:
        return self.baseline.kind != "none"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows:
            out[row.verdict] = out.get(row.verdict, 0) + 1
        return out

    def is_key(self, row: MetricRow) -> bool:
        return bool(self.key_metric) and row.name == self.key_metric and \
            (self.key_task is None or row.task == self.key_task)


def verdict(value: float, baseline: float, direction: str) -> str:
    """better / worse / same / changed (no known direction, or a non-finite value)."""
    if not (math.isfinite(value) and math.isfinite(baseline)):
        return SAME if (value == baseline or (math.isnan(value) and math.isnan(baseline))) \
            else CHANGED
    if abs(value - baseline) <= _REL_EPSILON * max(abs(value), abs(baseline), 1e-300):
        return SAME
    if direction == UP:
        return BETTER if value > baseline else WORSE
    if direction == DOWN:
        return BETTER if value < baseline else WORSE
    return CHANGED


def compare(candidate: Mapping[str, Mapping[str, float]],
            baseline: Mapping[str, Mapping[str, float]] | None,
            config: MetricsConfig | None = None) -> list[MetricRow]:
    """Rows in the candidate's order, then the dropped ones (only in the baseline).

    `baseline` None means "no baseline": every row is ONLY. An empty baseline mapping means a
    baseline run that logged nothing: every row is NEW.
    """
    config = config or MetricsConfig()
    rows: list[MetricRow] = []
    for task, values in candidate.items():
        before = None if baseline is None else baseline.get(task, {})
        for name, value in values.items():
            direction = config.direction(name)
            if before is None:
                rows.append(MetricRow(task, name, value, None, direction, ONLY))
            elif name not in before:
                rows.append(MetricRow(task, name, value, None, direction, NEW))
            else:
                rows.append(MetricRow(task, name, value, before[name], direction,
                                      verdict(value, before[name], direction)))
    for task, values in (baseline or {}).items():
        for name, value in values.items():
            if name not in candidate.get(task, {}):
                rows.append(MetricRow(task, name, None, value, config.direction(name), DROPPED))
    return rows


def build_comparison(run_id: str | None, candidate: Mapping[str, Mapping[str, float]],
                     baseline_metrics: Mapping[str, Mapping[str, float]] | None,
                     baseline: BaselineInfo, config: MetricsConfig | None = None,
                     notes: tuple[str, ...] = (), source: str | None = None) -> Comparison:
    config = config or MetricsConfig()
    rows = compare(candidate, baseline_metrics if baseline.kind != "none" else None, config)
    return Comparison(run_id, tuple(rows), baseline, notes, config.key_metric, config.key_task,
                      source)
