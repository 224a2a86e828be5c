"""The `metrics` section of kfops.yaml, with its defaults.

Which way is better differs per metric, and the names teams use vary ("val_accuracy",
"test/log_loss"), so a metric's direction is, in order: the configured `directions` entry for that
exact name; else the default for the name or its longest underscore-joined suffix ("val_log_loss"
-> "log_loss" -> down); else unknown, which shows the difference without an arrow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

UP, DOWN, NONE = "up", "down", "none"

DEFAULT_DIRECTIONS: dict[str, str] = {
    **{name: UP for name in ("accuracy", "precision", "recall", "f1", "auc", "roc_auc", "r2")},
    **{name: DOWN for name in ("loss", "log_loss", "error", "mae", "mse", "rmse")},
}
DEFAULT_FILE = "kfops-metrics.json"


@dataclass(frozen=True)
class MetricsConfig:
    """Parsed `metrics` section. `mlmd_endpoint`: None = the Kubeflow host's root; "off" = never
    call MLMD (only the metrics file)."""

    directions: Mapping[str, str] = field(default_factory=dict)
    key_metric: str | None = None
    key_task: str | None = None
    tolerance: float = 0.0
    gate: bool = True
    fallback_file: str = DEFAULT_FILE
    mlmd_endpoint: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> MetricsConfig:
        """From the whole validated kfops.yaml (or its `metrics` section alone)."""
        config = config or {}
        if "pipeline" in config or "metrics" in config:
            section: Mapping[str, Any] = config.get("metrics") or {}
        else:
            section = config
        return cls(directions=dict(section.get("directions") or {}),
                   key_metric=section.get("key_metric"),
                   key_task=section.get("key_task"),
                   tolerance=float(section.get("tolerance", 0.0)),
                   gate=bool(section.get("gate", True)),
                   fallback_file=str(section.get("fallback_file") or DEFAULT_FILE),
                   mlmd_endpoint=section.get("mlmd_endpoint"))

    @property
    def mlmd_enabled(self) -> bool:
        return self.mlmd_endpoint != "off"

    @property
    def gate_enabled(self) -> bool:
        return self.gate and bool(self.key_metric)

    def direction(self, name: str) -> str:
        """"up", "down" or "none" for metric `name`."""
        if name in self.directions:
            return str(self.directions[name])
        return default_direction(name)


def default_direction(name: str) -> str:
    tokens = [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t]
    for start in range(len(tokens)):
        candidate = "_".join(tokens[start:])
        if candidate in DEFAULT_DIRECTIONS:
            return DEFAULT_DIRECTIONS[candidate]
    return NONE
