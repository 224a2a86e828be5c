"""The optional deploy gate: refuse a model whose key metric is worse than production's.

Opt-in (`metrics.key_metric`, `metrics.gate` true by default once a key metric is set), and strict
once on: a team that set a gate wants a deploy stopped when kfops cannot tell, so a missing or
ambiguous key metric in the candidate, or an unknown direction, refuses too. `--force` always
deploys, and the reply still shows both values, so the override is on record in the PR. What does
not refuse: no model in production yet (first deploy), or a production run that did not log the
metric (nothing to be worse than); the text says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .config import DOWN, UP, MetricsConfig
from .render import md_code, md_text, number


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    text: str                       # markdown, for the PR reply ("" when the gate is off)
    candidate: float | None = None
    production: float | None = None
    forced: bool = False            # allowed only because of --force


def _find(metrics: Mapping[str, Mapping[str, float]], name: str,
          task: str | None) -> tuple[float | None, str | None, list[str]]:
    """(value, task, ambiguous tasks)."""
    if task is not None:
        value = metrics.get(task, {}).get(name)
        return value, task if value is not None else None, []
    holders = [t for t, values in metrics.items() if name in values]
    if len(holders) == 1:
        return metrics[holders[0]][name], holders[0], []
    return None, None, holders


def check_deploy_gate(candidate: Mapping[str, Mapping[str, float]], candidate_run_id: str | None,
                      production: Mapping[str, Mapping[str, float]] | None,
                      production_run_id: str | None, config: MetricsConfig, *,
                      force: bool = False) -> GateDecision:
    """Decide whether /deploy may go on. `production` None means no model is in production."""
    if not config.gate_enabled:
        return GateDecision(True, "")
    name = str(config.key_metric)
    label = md_text(name) + (f" (task {md_text(config.key_task)})" if config.key_task else "")
    run = f" for run {md_code(candidate_run_id)}" if candidate_run_id else ""
    prod_run = f" (run {md_code(production_run_id)})" if production_run_id else ""

    value, task, ambiguous = _find(candidate, name, config.key_task)
    if value is None:
        why = (f"several tasks log it ({', '.join(md_text(t) for t in ambiguous)}): set "
               "`metrics.key_task`") if ambiguous else "this run did not log it"
        return refuse(f"the key metric {label} cannot be checked{run}: {why}.", force, None, None)
    where = f" (task {md_text(task)})" if task and not config.key_task else ""
    if production is None:
        return GateDecision(True, f"Deploy gate: {label}{where} is {number(value)}{run}; no model "
                                  "is in production yet, nothing to compare with.", value, None)
    prod_value, _, _ = _find(production, name, task if task in production else config.key_task)
    if prod_value is None:
        return GateDecision(True, f"Deploy gate: {label}{where} is {number(value)}{run}; the "
                                  f"production model{prod_run} did not log it, nothing to compare "
                                  "with.", value, None)
    direction = config.direction(name)
    both = f"{label}{where} is {number(value)}{run}, {number(prod_value)} in production{prod_run}"
    if direction not in (UP, DOWN):
        return refuse(f"{both}, but whether higher is better is unknown: set "
                       f"`metrics.directions` for it.", force, value, prod_value)
    worse_by = (prod_value - value) if direction == UP else (value - prod_value)
    if worse_by != worse_by:  # NaN on either side
        return refuse(f"{both}: the values cannot be compared.", force, value, prod_value)
    if worse_by > config.tolerance:
        return refuse(f"{both}: worse by {number(worse_by)}, more than the tolerance "
                       f"{number(config.tolerance)}.", force, value, prod_value)
    return GateDecision(True, f"Deploy gate passed: {both} (tolerance "
                              f"{number(config.tolerance)}).", value, prod_value)


def refuse(reason: str, force: bool, value: float | None, prod: float | None) -> GateDecision:
    """Refused, or allowed with the reason on record when forced. `reason` is markdown."""
    if force:
        return GateDecision(True, f"Deploy gate overridden with `--force`: {reason}", value, prod,
                            forced=True)
    return GateDecision(False, f"Deploy refused by the gate: {reason} Comment `/deploy --force` "
                               "to deploy anyway.", value, prod)
