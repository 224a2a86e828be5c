"""What a deploy did, as data: the /deploy handler renders it into the PR and the job log.

A deploy report must answer, without reading the cluster: which InferenceService, which revision
served before and which serves now, how traffic is split at the end, whether a canary really
happened (and at what share), whether anything was rolled back, and how long each step took.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Step:
    """One step of the rollout (lock, create, canary, wait, endpoint check, promote, rollback)."""

    name: str
    ok: bool
    seconds: float
    detail: str = ""

    def line(self) -> str:
        mark = "ok" if self.ok else "FAILED"
        return f"{self.name}: {mark} ({self.seconds:.1f} s){' - ' + self.detail if self.detail else ''}"


@dataclass
class TrafficShare:
    """One entry of `status.components.predictor.traffic` (Knative), simplified."""

    revision: str | None
    percent: int
    tag: str | None = None
    latest: bool = False
    url: str | None = None

    def __str__(self) -> str:
        tag = f" ({self.tag})" if self.tag else ""
        return f"{self.percent}% -> {self.revision or '?'}{tag}"


@dataclass
class DeployResult:
    """The outcome of one deploy, successful or not.

    `canary_percent` is the share the new revision really got before promotion: None when no
    canary happened (first deploy, RawDeployment/Standard replace, nothing rolled out before), so
    a report can never claim a canary that did not happen.
    """

    environment: str
    isvc: str
    namespace: str
    mode: str = "Knative"
    strategy: str = ""                 # create | canary | rollout | replace | none
    url: str | None = None
    revision_before: str | None = None
    revision_after: str | None = None
    traffic: list[TrafficShare] = field(default_factory=list)
    canary_percent: int | None = None
    canary_steps: list[int] = field(default_factory=list)   # shares passed, in order (canary_steps)
    steps: list[Step] = field(default_factory=list)
    rolled_back: bool = False
    succeeded: bool = False
    message: str = ""
    check_url: str | None = None

    @property
    def serving(self) -> str:
        """What the cluster serves now, in one phrase (from the last status read)."""
        if self.traffic:
            return ", ".join(str(t) for t in self.traffic if t.percent) or "no traffic"
        return self.revision_after or self.revision_before or "unknown"

    def summary(self) -> list[str]:
        """Plain lines for a report: outcome first, then the serving state, then every step."""
        head = "deployed" if self.succeeded else ("rolled back" if self.rolled_back else "failed")
        lines = [f"{self.environment}: {head} InferenceService {self.namespace}/{self.isvc} "
                 f"({self.mode} mode, {self.strategy or 'no change'})"]
        if self.message:
            lines.append(self.message)
        lines.append(f"serving now: {self.serving}")
        if self.url:
            lines.append(f"url: {self.url}")
        lines += [f"- {s.line()}" for s in self.steps]
        return lines

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (for a step output or an annotation-free machine record)."""
        from dataclasses import asdict

        return asdict(self)


@contextmanager
def timed_step(result: DeployResult, name: str, clock: Callable[[], float],
               on_step: Callable[[Step], None] | None = None) -> Iterator[Step]:
    """Record one step in `result` (with its time, and the first line of the error that ended it),
    then tell `on_step`: the report shows every step, successful or not, as it happens."""
    started = clock()
    record = Step(name, True, 0.0)
    try:
        yield record
    except BaseException as exc:
        record.ok = False
        if not record.detail:
            record.detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise
    finally:
        record.seconds = clock() - started
        result.steps.append(record)
        if on_step is not None:
            on_step(record)
