"""The canary plan of one environment: the traffic shares to walk through, and the pause between.

`deployment.<env>.canary_steps: [10, 50, 100]` walks the new model up in steps, with the endpoint
check at every step and `canary_pause` seconds between steps, so a model that only misbehaves under
more load is caught while most users are still on the previous one. The single
`canary_percent: N` (the original key) stays a plan of one step. Checked here, before the lock or
any write, so a bad plan changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import DeployError

DEFAULT_CANARY = 10


@dataclass(frozen=True)
class CanaryPlan:
    steps: tuple[int, ...]     # increasing traffic shares for the new model, each 0..100
    pause: float = 0.0         # seconds between one step's check and the next step

    @property
    def multi(self) -> bool:
        return len(self.steps) > 1

    def label(self, index: int) -> str:
        """How a step is named in the status comment: `canary step 2/3 (50%)`."""
        return f"canary step {index + 1}/{len(self.steps)} ({self.steps[index]}%)"


def plan_from_settings(settings: Mapping[str, Any], environment: str) -> CanaryPlan:
    """`canary_steps` wins over `canary_percent`; both set with different meanings is an error
    (which one would the user expect?)."""
    where = f"deployment.{environment}"
    pause = settings.get("canary_pause", 0) or 0
    if isinstance(pause, bool) or not isinstance(pause, (int, float)) or pause < 0:
        raise DeployError(f"{where}.canary_pause must be a number of seconds >= 0, got {pause!r}",
                          fix=f"set {where}.canary_pause: 60 (or remove it)", exit_code=2)
    raw_steps = settings.get("canary_steps")
    if raw_steps is None:
        single = settings.get("canary_percent", DEFAULT_CANARY)
        return CanaryPlan((DEFAULT_CANARY if single is None else int(single),), float(pause))
    if not isinstance(raw_steps, list) or not raw_steps or not all(
            isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 100 for s in raw_steps):
        raise DeployError(f"{where}.canary_steps must be a non-empty list of whole percents "
                          f"between 1 and 100, got {raw_steps!r}",
                          fix=f"write e.g. {where}.canary_steps: [10, 50, 100]", exit_code=2)
    if any(b <= a for a, b in zip(raw_steps, raw_steps[1:])):
        raise DeployError(f"{where}.canary_steps must increase step by step, got {raw_steps!r}",
                          fix="list each share once, smallest first, e.g. [10, 50, 100]",
                          exit_code=2)
    single = settings.get("canary_percent")
    if single is not None and int(single) != raw_steps[0]:
        raise DeployError(f"{where} sets both canary_percent ({single}) and canary_steps "
                          f"({raw_steps}), which disagree on the first share",
                          fix=f"remove {where}.canary_percent (canary_steps replaces it)",
                          exit_code=2)
    return CanaryPlan(tuple(raw_steps), float(pause))
