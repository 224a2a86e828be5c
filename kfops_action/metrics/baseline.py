"""Which run a PR's run is compared with.

In order: the run behind the model serving in production (the InferenceService's provenance
annotation `kfops/run-id`, written at /deploy), else the latest successful run of the default
branch, else none, and the report says which and why. Both lookups are ports (callables returning a
run id) so this module needs neither Kubernetes nor KFP: the caller wires them.

A lookup that fails (Kubernetes unreachable, no permission) or points at a run whose metrics cannot
be read does not stop the comparison: the next candidate is tried and the reason is kept as a note.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .compare import BaselineInfo
from .read import RunMetrics

PRODUCTION, DEFAULT_BRANCH, NONE = "production", "default-branch", "none"


@dataclass(frozen=True)
class BaselineRef:
    """A run to compare with, and how to name it in the report."""

    run_id: str
    detail: str = ""


RunLookup = Callable[[], "BaselineRef | str | None"]
"""Port: the run id of a baseline candidate (or a BaselineRef), None when there is none."""

MetricsReader = Callable[[str], RunMetrics]
"""Port: the metrics of a run id (e.g. functools.partial(read.read_run_metrics, mlmd=..., ...))."""


@dataclass(frozen=True)
class Baseline:
    info: BaselineInfo
    metrics: RunMetrics | None = None

    @property
    def values(self) -> dict[str, dict[str, float]] | None:
        return self.metrics.metrics if self.metrics is not None else None


def as_ref(found: BaselineRef | str | None) -> BaselineRef | None:
    """What a RunLookup returned, as a BaselineRef (None and "" are no run)."""
    if found is None or found == "":
        return None
    return found if isinstance(found, BaselineRef) else BaselineRef(str(found))


def find_baseline(*, production: RunLookup | None, default_branch: RunLookup | None,
                  read: MetricsReader, exclude_run_id: str | None = None) -> Baseline:
    """The first candidate whose metrics can be read; else a `none` baseline with the reasons."""
    notes: list[str] = []
    for kind, lookup, label in ((PRODUCTION, production, "the production model"),
                                (DEFAULT_BRANCH, default_branch, "the default branch")):
        if lookup is None:
            notes.append(f"{label}: not configured")
            continue
        try:
            ref = as_ref(lookup())
        except Exception as exc:  # noqa: BLE001 - a baseline is optional: note it, go on
            notes.append(f"{label}: lookup failed ({_what(exc)})")
            continue
        if ref is None:
            notes.append(f"{label}: none found")
            continue
        if exclude_run_id and ref.run_id == exclude_run_id:
            notes.append(f"{label}: is this very run")
            continue
        metrics = read(ref.run_id)
        if metrics.empty:
            why = "; ".join(metrics.notes) or "no metrics"
            notes.append(f"{label}: run {ref.run_id} has no readable metrics ({why})")
            continue
        return Baseline(BaselineInfo(kind, ref.run_id, ref.detail, tuple(notes)), metrics)
    return Baseline(BaselineInfo(NONE, None, "", tuple(notes)), None)


def _what(exc: BaseException) -> str:
    text = getattr(exc, "what", None) or str(exc) or type(exc).__name__
    return str(text).splitlines()[0][:300]


def production_run_lookup(read_inference_service: Callable[[], Mapping[str, Any] | None],
                          ) -> RunLookup:
    """A RunLookup over the live production InferenceService (a plain dict, as the deploy code
    reads it; None when it does not exist). Its provenance annotations name the run."""

    def lookup() -> BaselineRef | None:
        obj = read_inference_service()
        if not obj:
            return None
        from kfops_action.deploy.annotations import provenance_of

        provenance = provenance_of(obj)
        run_id = provenance.get("run_id")
        if not run_id:
            return None
        meta = obj.get("metadata") or {}
        parts = [f"InferenceService {meta.get('namespace', '?')}/{meta.get('name', '?')}"]
        if provenance.get("pr"):
            parts.append(f"PR #{provenance['pr']}")
        if provenance.get("commit"):
            parts.append(f"commit {str(provenance['commit'])[:7]}")
        return BaselineRef(run_id, ", ".join(parts))

    return lookup


def latest_run_on_commits(runs: Iterable[Any], commits: Sequence[str]) -> BaselineRef | None:
    """The default-branch baseline from KFP runs kfops started: the newest commit of `commits`
    (the default branch's history, newest first) with a SUCCEEDED run, its latest such run.

    kfops writes "kfops: <pipeline> at <sha>" into each run's description (handlers.run), so the
    commit is read from there. `runs`: objects or dicts with run_id, state, description and
    created_at (as kfp_server_api's V2beta1Run has).
    """
    def get(run: Any, key: str) -> Any:
        return run.get(key) if isinstance(run, Mapping) else getattr(run, key, None)

    by_commit: dict[str, list[Any]] = {}
    for run in runs:
        if get(run, "state") != "SUCCEEDED":
            continue
        match = re.search(r"\bat ([0-9a-f]{7,40})\b", str(get(run, "description") or ""))
        if match:
            by_commit.setdefault(match.group(1), []).append(run)
    for sha in commits:
        found = [run for key, group in by_commit.items()
                 if sha.startswith(key) or key.startswith(sha) for run in group]
        if found:
            newest = max(found, key=lambda r: str(get(r, "created_at") or ""))
            return BaselineRef(str(get(newest, "run_id")), f"default branch at {sha[:7]}")
    return None
