"""Waiting for a KFP run to finish.

Our own loop because `kfp.Client.wait_for_run_completion` never ends on CANCELED. The clock and
sleep are injected so tests run in microseconds, and a blip (5xx, dropped connection) while
polling a run that may last hours does not abort the wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from kfops_action.errors import Problem, RemoteError, RunFailed
from kfops_action.kubeflow.remote import RunStatus, Unreachable

DEFAULT_TRANSIENT_RETRIES = 3


class RunReader(Protocol):
    """What the loop needs from KfpRemote (a fake in tests)."""

    def get_run(self, run_id: str) -> RunStatus: ...

    def run_url(self, run_id: str) -> str: ...


def wait_for_run(remote: RunReader, run_id: str, *, timeout: float | None,
                 poll_interval: float = 5.0,
                 on_update: Callable[[RunStatus], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 transient_retries: int = DEFAULT_TRANSIENT_RETRIES,
                 max_poll_interval: float | None = None,
                 on_poll: Callable[[RunStatus], None] | None = None) -> RunStatus:
    """Poll until the run is terminal and return its last status (whatever the outcome).

    `on_update` sees the first status and every later change of the run or task states;
    `on_poll` sees every status read (changed or not), after `on_update`.
    Raises RunFailed(state="TIMEOUT") after `timeout` seconds (None: wait forever); the run
    itself goes on in Kubeflow. Up to `transient_retries` consecutive 5xx/unreachable errors
    are retried at the poll interval; the next one is raised.

    Adaptive polling: with `max_poll_interval`, each poll that sees no change waits 1.5 times
    longer than the one before, up to that maximum; a change brings it back to `poll_interval`.
    A training run of hours is then read every minute or so, and a task change is still seen
    within seconds of a change before it.
    """
    deadline = None if timeout is None else clock() + timeout
    last: RunStatus | None = None
    failures = 0
    interval = poll_interval
    while True:
        try:
            status = remote.get_run(run_id)
        except RemoteError as exc:
            failures += 1
            if not _transient(exc) or failures > transient_retries:
                raise
        else:
            failures = 0
            changed = last is None or _changed(last, status)
            if on_update is not None and changed:
                on_update(status)
            if on_poll is not None:
                on_poll(status)
            last = status
            if status.terminal:
                return status
            interval = next_interval(interval, changed, poll_interval, max_poll_interval)
        remaining = None if deadline is None else deadline - clock()
        if remaining is not None and remaining <= 0:
            raise _timed_out(remote, run_id, timeout, last)
        sleep(interval if remaining is None else min(interval, remaining))


def next_interval(current: float, changed: bool, base: float, maximum: float | None) -> float:
    """The wait before the next poll: back to `base` after a change, else 1.5x up to `maximum`."""
    if maximum is None or changed:
        return base
    return min(max(maximum, base), current * 1.5)


def failure_of(status: RunStatus, url: str) -> RunFailed | None:
    """The RunFailed to raise for a terminal status that did not succeed, else None.

    Names every failed task with its error, so the report says which step broke and why.
    """
    if status.succeeded:
        return None
    problems = [Problem(task.error or "failed", f"task {task.name}")
                for task in status.failed_tasks]
    if status.error and not any(status.error == p.message for p in problems):
        problems.insert(0, Problem(status.error, f"run {status.run_id}"))
    verb = {"FAILED": "failed", "CANCELED": "was canceled",
            "CANCELING": "was canceled"}.get(status.state, f"ended in state {status.state}")
    return RunFailed(f"run {status.run_id} {verb}", status.state, problems,
                     fix=f"see the run and its logs at {url}")


def _transient(exc: RemoteError) -> bool:
    return isinstance(exc, Unreachable) or (exc.status or 0) >= 500


def _changed(before: RunStatus, after: RunStatus) -> bool:
    return (before.state, before.tasks) != (after.state, after.tasks)


def _timed_out(remote: RunReader, run_id: str, timeout: float | None,
               last: RunStatus | None) -> RunFailed:
    state = last.state if last is not None else "unknown"
    return RunFailed(
        f"run {run_id} did not finish within {_seconds(timeout)}s (last state {state})",
        "TIMEOUT",
        fix=(f"the run goes on in Kubeflow; follow it at {remote.run_url(run_id)} "
             "or rerun with a longer --timeout"),
    )


def _seconds(value: float | None) -> str:
    """30.0 -> "30", 2.5 -> "2.5": how a user wrote it, not how a float prints."""
    if value is None:
        return "unlimited"
    return f"{value:.0f}" if float(value).is_integer() else f"{value}"
