"""The wait loop: terminal states, timeouts on a fake clock, transient errors, progress updates."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FAKE_TOKEN

from kfops_action.errors import RemoteError, RunFailed
from kfops_action.kubeflow.connection import Connection
from kfops_action.kubeflow.remote import KfpRemote, RunStatus, TaskState, Unreachable
from kfops_action.kubeflow.wait import failure_of, wait_for_run

URL = "https://kf.example.com/pipeline/#/runs/details/r1"


def status(state: str, *tasks: TaskState, error: str | None = None) -> RunStatus:
    return RunStatus("r1", state, error, None, None, tuple(tasks))


class ScriptedRemote:
    """Answers get_run from a script (statuses or exceptions to raise); the last one sticks."""

    def __init__(self, *script: RunStatus | Exception) -> None:
        self.script = list(script)
        self.calls = 0

    def get_run(self, run_id: str) -> RunStatus:
        item = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(item, Exception):
            raise item
        return item

    def run_url(self, run_id: str) -> str:
        return URL


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def wait(remote: ScriptedRemote, clock: FakeClock | None = None, **kwargs) -> RunStatus:
    clock = clock or FakeClock()
    kwargs.setdefault("timeout", 3600)
    return wait_for_run(remote, "r1", clock=clock, sleep=clock.sleep, **kwargs)


def test_returns_the_succeeded_status_polling_at_the_interval():
    clock = FakeClock()
    remote = ScriptedRemote(status("PENDING"), status("RUNNING"), status("SUCCEEDED"))
    final = wait(remote, clock, poll_interval=7)
    assert final.state == "SUCCEEDED" and final.succeeded
    assert remote.calls == 3 and clock.sleeps == [7, 7]


def test_on_update_sees_each_change_and_only_changes():
    train_running = TaskState("train", "RUNNING")
    train_done = TaskState("train", "SUCCEEDED")
    remote = ScriptedRemote(status("RUNNING"), status("RUNNING"), status("RUNNING", train_running),
                            status("RUNNING", train_running), status("RUNNING", train_done),
                            status("SUCCEEDED", train_done))
    seen: list[RunStatus] = []
    wait(remote, on_update=seen.append)
    assert [(s.state, s.tasks) for s in seen] == [
        ("RUNNING", ()), ("RUNNING", (train_running,)), ("RUNNING", (train_done,)),
        ("SUCCEEDED", (train_done,))]


def test_failed_run_is_returned_and_failure_of_names_the_failed_task():
    failed = status("FAILED", TaskState("prepare", "SUCCEEDED"),
                    TaskState("train", "FAILED", "OOMKilled: exceeded 4Gi"),
                    error="task 'train' failed")
    final = wait(ScriptedRemote(status("RUNNING"), failed))
    assert final is failed and final.terminal and not final.succeeded

    error = failure_of(final, URL)
    assert isinstance(error, RunFailed) and error.state == "FAILED"
    assert error.what == "run r1 failed"
    assert [str(p) for p in error.problems] == ["run r1: task 'train' failed",
                                                "task train: OOMKilled: exceeded 4Gi"]
    assert URL in (error.fix or "")


@pytest.mark.parametrize("state", ["CANCELED", "CANCELING"])
def test_canceled_and_canceling_end_the_wait(state):
    remote = ScriptedRemote(status("RUNNING"), status(state), status("RUNNING"))
    final = wait(remote)
    assert final.state == state and remote.calls == 2
    error = failure_of(final, URL)
    assert error is not None and error.state == state and error.what == "run r1 was canceled"


@pytest.mark.parametrize("state", ["SUCCEEDED", "SKIPPED"])
def test_failure_of_a_successful_run_is_none(state):
    assert failure_of(status(state), URL) is None


def test_timeout_raises_with_the_last_state_and_where_to_follow_the_run():
    clock = FakeClock()
    remote = ScriptedRemote(status("PENDING"), status("RUNNING"))
    with pytest.raises(RunFailed) as err:
        wait(remote, clock, timeout=30, poll_interval=10)
    assert err.value.state == "TIMEOUT"
    assert err.value.what == "run r1 did not finish within 30s (last state RUNNING)"
    assert URL in (err.value.fix or "") and "--timeout" in (err.value.fix or "")
    assert sum(clock.sleeps) == 30  # never sleeps past the deadline
    assert remote.calls == 4  # at 0, 10, 20 and 30 s


def test_timeout_shorter_than_the_interval_sleeps_only_the_remainder():
    clock = FakeClock()
    with pytest.raises(RunFailed):
        wait(ScriptedRemote(status("RUNNING")), clock, timeout=2.5, poll_interval=10)
    assert clock.sleeps == [2.5]


def test_no_timeout_waits_as_long_as_it_takes():
    remote = ScriptedRemote(*[status("RUNNING")] * 500, status("SUCCEEDED"))
    assert wait(remote, timeout=None).state == "SUCCEEDED"
    assert remote.calls == 501


@pytest.mark.parametrize("blip", [
    RemoteError("HTTP 503", status=503),
    RemoteError("HTTP 500", status=500),
    Unreachable("Kubeflow Pipelines at x is unreachable: connection refused"),
])
def test_transient_errors_are_retried_at_the_poll_interval(blip):
    clock = FakeClock()
    remote = ScriptedRemote(status("RUNNING"), blip, blip, blip, status("SUCCEEDED"))
    assert wait(remote, clock, poll_interval=5).state == "SUCCEEDED"
    assert clock.sleeps == [5, 5, 5, 5]


def test_transient_errors_that_persist_are_raised():
    blip = RemoteError("HTTP 502", status=502)
    remote = ScriptedRemote(status("RUNNING"), blip)
    with pytest.raises(RemoteError) as err:
        wait(remote, transient_retries=3)
    assert err.value is blip and remote.calls == 1 + 4


def test_error_count_resets_after_a_good_poll():
    blip = RemoteError("HTTP 500", status=500)
    remote = ScriptedRemote(blip, blip, status("RUNNING"), blip, blip, status("SUCCEEDED"))
    assert wait(remote, transient_retries=2).state == "SUCCEEDED"


@pytest.mark.parametrize("code", [401, 403, 404])
def test_client_errors_are_not_retried(code):
    remote = ScriptedRemote(RemoteError(f"HTTP {code}", status=code), status("SUCCEEDED"))
    with pytest.raises(RemoteError):
        wait(remote)
    assert remote.calls == 1


def test_timeout_while_the_server_is_down_reports_the_last_known_state():
    clock = FakeClock()
    remote = ScriptedRemote(status("RUNNING"), RemoteError("HTTP 503", status=503))
    with pytest.raises(RunFailed, match=r"within 12s \(last state RUNNING\)"):
        wait(remote, clock, timeout=12, poll_interval=5, transient_retries=100)


# -- against the fake KFP server ----------------------------------------------------------------


@pytest.fixture
def started(fake_kfp, tmp_path: Path) -> tuple[KfpRemote, str]:
    package = tmp_path / "p.yaml"
    package.write_text("pipelineInfo: {name: demo}\nroot: {dag: {tasks: {}}}\n")
    kfp = KfpRemote(Connection(fake_kfp.url, token=FAKE_TOKEN))
    version = kfp.ensure_pipeline_version("demo", "v1", package)
    return kfp, version.version_id


def run(kfp: KfpRemote, fake_kfp, version_id: str) -> str:
    from kfops_action.kubeflow.remote import PipelineVersionRef

    pipeline_id = fake_kfp.versions[version_id]["pipeline_id"]
    ref = PipelineVersionRef(pipeline_id, version_id, "demo", "v1", False)
    return kfp.start_run(display_name="r", experiment_id=kfp.ensure_experiment("e"),
                         version=ref, parameters={}).run_id


def test_waits_through_a_real_client_until_the_task_fails(started, fake_kfp):
    kfp, version_id = started
    fake_kfp.tasks = ["prepare", "train"]
    fake_kfp.fail_task("train", "exit code 137")
    run_id = run(kfp, fake_kfp, version_id)
    updates: list[str] = []
    final = wait_for_run(kfp, run_id, timeout=30, poll_interval=0,
                         on_update=lambda s: updates.append(s.state))
    assert updates == ["PENDING", "RUNNING", "FAILED"]
    error = failure_of(final, kfp.run_url(run_id))
    assert error is not None and "task train: exit code 137" in str(error)


def test_waits_through_a_real_client_until_canceled(started, fake_kfp):
    kfp, version_id = started
    fake_kfp.run_states = ["RUNNING"]
    run_id = run(kfp, fake_kfp, version_id)
    kfp.terminate_run(run_id)
    assert wait_for_run(kfp, run_id, timeout=30, poll_interval=0).state == "CANCELING"


def test_survives_a_server_blip_through_a_real_client(started, fake_kfp):
    kfp, version_id = started
    run_id = run(kfp, fake_kfp, version_id)
    fake_kfp.deny(503, "upstream connect error", times=2)
    assert wait_for_run(kfp, run_id, timeout=30, poll_interval=0).state == "SUCCEEDED"
