"""Check run parameters against the compiled pipeline's inputs before anything is submitted.

A typo in a parameter name would otherwise be silently dropped by KFP (or fail an hour later);
here it is an error that names the valid parameters.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import PipelineError, Problem
from .package import ParameterSpec, PipelinePackage


@dataclass(frozen=True)
class RunParameter:
    """One row of the parameters table: where its value came from is part of the record."""

    name: str
    value: Any
    type_name: str
    source: str  # "default" (the pipeline's), "config" (kfops.yaml) or "override" (--set / file)

    @property
    def overridden(self) -> bool:
        return self.source == "override"


def _coerce(spec: ParameterSpec, value: Any) -> Any:
    """Return the value as the IR type wants it, or raise ValueError saying why not."""
    kind = spec.type
    if kind == "NUMBER_INTEGER":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError
            return int(value)
        return value
    if kind == "NUMBER_DOUBLE":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError
        return float(value)
    if kind == "BOOLEAN":
        if not isinstance(value, bool):
            raise ValueError
        return value
    if kind == "STRING":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float, str)):
            return str(value)
        raise ValueError
    if kind == "LIST":
        if not isinstance(value, list):
            raise ValueError
        return value
    if kind == "STRUCT":
        if not isinstance(value, dict):
            raise ValueError
        return value
    return value


def resolve_parameters(package: PipelinePackage, configured: dict[str, Any],
                       is_override: Callable[[str], bool],
                       where: Callable[[str], str | None]) -> list[RunParameter]:
    """Validate every configured parameter (all problems at once) and return the full table:
    configured values, then the pipeline's own defaults for the rest."""
    declared = package.parameters
    problems: list[Problem] = []
    rows: dict[str, RunParameter] = {}
    valid = ", ".join(f"{n} ({s.type_name})" for n, s in sorted(declared.items())) or "none"
    for name, value in configured.items():
        spec = declared.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(Problem(f"unknown parameter '{name}'{hint}; the pipeline takes: {valid}", where(name)))
            continue
        try:
            coerced = _coerce(spec, value)
        except ValueError:
            problems.append(Problem(f"parameter '{name}' must be {spec.type_name}, got {value!r}", where(name)))
            continue
        rows[name] = RunParameter(name, coerced, spec.type_name, "override" if is_override(name) else "config")
    for name, spec in sorted(declared.items()):
        if name in rows:
            continue
        if spec.required:
            problems.append(Problem(f"parameter '{name}' ({spec.type_name}) is required and has no default",
                                    "pipeline.parameters"))
            continue
        rows[name] = RunParameter(name, spec.default, spec.type_name, "default")
    if package.artifact_inputs:
        problems.append(Problem("the pipeline takes artifact inputs, which a run cannot be given: "
                                + ", ".join(package.artifact_inputs), str(package.path)))
    if problems:
        raise PipelineError(f"{len(problems)} problem(s) with the pipeline parameters", problems,
                            fix="set pipeline.parameters in kfops.yaml or --set pipeline.parameters.NAME=VALUE "
                                "with the names and types listed")
    order = list(declared)
    return sorted(rows.values(), key=lambda r: order.index(r.name) if r.name in order else len(order))


def arguments(rows: list[RunParameter]) -> dict[str, Any]:
    """What is sent with the run: explicit values only; KFP applies the pipeline's defaults."""
    return {r.name: r.value for r in rows if r.source != "default"}
