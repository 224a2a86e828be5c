"""`kfc build/run/build-run` against a remote KFP: our stateful fake, directly and through Prism
validating every request and response against KFP's own API description."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from conftest import FAKE_TOKEN, kfc


def remote(endpoint: str, *args: str, cwd: Path, token: str = FAKE_TOKEN, timeout: float = 120):
    return kfc(*args, "--endpoint", endpoint, cwd=cwd, env={"KF_PIPELINES_TOKEN": token}, timeout=timeout)


def test_build_run_wait_succeeds_and_reports(kfp_endpoint: str, fake_kfp, project: Path) -> None:
    result = remote(kfp_endpoint, "build-run", "--wait", "--poll-interval", "0.05",
                    "--set", "pipeline.parameters.epochs=50", cwd=project)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Run quickstart-classifier-nogit-")
    run_id = next(iter(fake_kfp.runs))
    assert f"/#/runs/details/{run_id}" in out
    assert "epochs         50     int    yes" in out
    assert "learning_rate  0.1    float" in out
    assert f"Run {run_id} SUCCEEDED" in out
    # the fake serves no ML Metadata: the report says so instead of showing nothing
    assert "No metrics could be read for this run." in out and "ML Metadata is not reachable" in out
    # what Kubeflow received: the version named from commit and spec hash, the checked parameters
    [version] = fake_kfp.versions.values()
    assert version["display_name"].startswith("nogit-") or version.get("name", "").startswith("nogit-")
    [create] = fake_kfp.requests_to("POST", "/apis/v2beta1/runs")
    params = create.body["runtime_config"]["parameters"]
    assert params == {"learning_rate": 0.1, "epochs": 50}
    assert create.body["pipeline_version_reference"]["pipeline_version_id"] == version["pipeline_version_id"]


def test_same_code_uploads_once(kfp_endpoint: str, fake_kfp, project: Path) -> None:
    first = remote(kfp_endpoint, "build", cwd=project)
    assert first.returncode == 0, first.stderr
    assert "uploaded pipeline version quickstart-classifier/nogit-" in first.stderr
    second = remote(kfp_endpoint, "build", cwd=project)
    assert second.returncode == 0, second.stderr
    assert "reused existing pipeline version" in second.stderr
    assert len(fake_kfp.versions) == 1
    (project / "pipeline.py").write_text((project / "pipeline.py").read_text() + "\n# a change\n")
    changed = (project / "pipeline.py").read_text().replace("learning_rate: float = 0.1", "learning_rate: float = 0.2")
    (project / "pipeline.py").write_text(changed)
    third = remote(kfp_endpoint, "build", cwd=project)
    assert third.returncode == 0, third.stderr
    assert len(fake_kfp.versions) == 2 and len(fake_kfp.pipelines) == 1


def test_failed_run_exits_non_zero_naming_the_task(kfp_endpoint: str, fake_kfp, project: Path) -> None:
    fake_kfp.fail_task("train", "OOMKilled: container exceeded its memory limit")
    result = remote(kfp_endpoint, "run", "--wait", "--poll-interval", "0.05", cwd=project)
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    assert "train" in result.stdout and "OOMKilled" in result.stdout


@pytest.mark.parametrize("final", ["CANCELED", "CANCELING"])
def test_canceled_run_is_terminal_and_not_success(kfp_endpoint: str, fake_kfp, project: Path, final: str) -> None:
    fake_kfp.run_states = ["RUNNING", final]
    result = remote(kfp_endpoint, "run", "--wait", "--poll-interval", "0.05", cwd=project, timeout=60)
    assert result.returncode == 1
    assert f" {final}" in result.stdout


def test_wait_timeout_exits_non_zero_and_says_the_run_goes_on(fake_kfp, project: Path) -> None:
    fake_kfp.run_states = ["RUNNING"]
    result = remote(fake_kfp.url, "run", "--wait", "--poll-interval", "0.05", "--timeout", "0.5", cwd=project)
    assert result.returncode == 3  # ExitCode.TIMEOUT: not a failed run
    assert "did not finish within" in result.stderr
    assert "/#/runs/details/" in result.stderr


def test_rejected_token_is_a_clear_error_without_the_token(fake_kfp, project: Path) -> None:
    secret = "wrong-token-5f2a9c81d"
    result = remote(fake_kfp.url, "build-run", cwd=project, token=secret)
    assert result.returncode == 4  # ExitCode.UNREACHABLE: credentials refused
    assert "401" in result.stderr or "rejected" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_forbidden_is_a_clear_error(fake_kfp, project: Path) -> None:
    fake_kfp.deny(403, "user alice cannot access namespace ml-team")
    result = remote(fake_kfp.url, "run", cwd=project)
    assert result.returncode == 4
    assert "403" in result.stderr or "not allowed" in result.stderr
    assert FAKE_TOKEN not in result.stderr


def test_unreachable_endpoint_fails_fast(project: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    result = remote(f"http://127.0.0.1:{port}", "run", cwd=project, timeout=60)
    assert result.returncode == 4
    assert "unreachable" in result.stderr
    assert time.monotonic() - started < 30


def test_bad_parameter_sends_nothing_to_kubeflow(fake_kfp, project: Path) -> None:
    result = remote(fake_kfp.url, "build-run", "--set", "pipeline.parameters.lerning_rate=1", cwd=project)
    assert result.returncode == 2
    assert "unknown parameter 'lerning_rate'" in result.stderr
    assert fake_kfp.requests == []


def test_missing_endpoint_says_where_to_set_it(project: Path) -> None:
    config = project / "kfops.yaml"
    config.write_text(config.read_text().replace("  endpoint: https://kubeflow.example.com/pipeline", ""))
    result = kfc("run", cwd=project, env={"KF_PIPELINES_TOKEN": "x"})
    assert result.returncode == 2
    assert "--endpoint" in result.stderr and "KF_PIPELINES_ENDPOINT" in result.stderr


def test_missing_token_variable_is_named(fake_kfp, project: Path) -> None:
    result = kfc("run", "--endpoint", fake_kfp.url, cwd=project)
    assert result.returncode == 2
    assert "KF_PIPELINES_TOKEN" in result.stderr
    assert fake_kfp.requests == []
