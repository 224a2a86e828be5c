"""What scripts rely on: `kfc --output json`, the exit codes (and that the docs list the same ones),
and a reader that closes the pipe early (`kfc schema | head -1`) ending kfc without a traceback."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_TOKEN, ROOT, kfc

from kfops_action.errors import EXIT_MEANINGS, ExitCode


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    """The whole of stdout is one JSON document (nothing else may be printed there)."""
    return json.loads(result.stdout)


def remote(endpoint: str, *args: str, cwd: Path, token: str = FAKE_TOKEN) -> subprocess.CompletedProcess[str]:
    return kfc(*args, "--endpoint", endpoint, cwd=cwd, env={"KF_PIPELINES_TOKEN": token})


# --- a closed stdout ---------------------------------------------------------------------------


def with_closed_stdout(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run `command` with a stdout pipe whose reading end is already closed: every write to it
    fails, whatever the timing (`| head -1` closes it only once head has its line)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, *command], stdout=write, stderr=subprocess.PIPE, text=True,
                              cwd=cwd, timeout=120)
    finally:
        os.close(write)


@pytest.mark.parametrize("args", [["schema"], ["--help"], ["--version"], ["run", "--help"],
                                  ["comment", "/help", "--no-compile"]])
def test_kfc_ends_quietly_when_stdout_is_closed(args: list[str], tmp_path: Path) -> None:
    result = with_closed_stdout("-m", "kfops_action.cli", *args, cwd=tmp_path)
    assert result.returncode == ExitCode.STDOUT_CLOSED == 141
    assert result.stderr == ""


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_kfops_action_ends_quietly_when_stdout_is_closed(args: list[str]) -> None:
    result = with_closed_stdout("-m", "kfops_action", *args)
    assert result.returncode == 141 and result.stderr == ""


def shell(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KF_PIPELINES")}
    env["KFC"] = f"{sys.executable} -m kfops_action.cli"
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_real_pipes_into_head(tmp_path: Path) -> None:
    """The commands of the bug report, through a shell pipe. Whether kfc writes before or after
    head exits is up to the scheduler; either way: head's line, no traceback, 0 or 141."""
    result = shell('$KFC schema | head -1; echo "status ${PIPESTATUS[0]}"; '
                   '$KFC --help | head -1; echo "status ${PIPESTATUS[0]}"', cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert lines[0] == "{" and lines[2].startswith("usage: kfc")
    assert {lines[1], lines[3]} <= {"status 0", "status 141"}
    assert result.stderr == ""


def test_long_validate_output_into_head(tmp_path: Path) -> None:
    """Output far larger than a pipe holds: kfc is still writing when head has gone, so the
    closed pipe is certain, and so is the status."""
    (tmp_path / "pipeline.py").write_text(
        "from kfp import dsl\n\n\n@dsl.component\ndef echo(note: str) -> str:\n    return note\n\n\n"
        "@dsl.pipeline(name='notes')\ndef notes(note: str = 'short'):\n    echo(note=note)\n")
    (tmp_path / "kfops.yaml").write_text("pipeline:\n  file: pipeline.py\n  function: notes\n  name: notes\n"
                                         f"  parameters:\n    note: {'n' * 300_000}\n")
    result = shell('$KFC validate | head -1; echo "status ${PIPESTATUS[0]}"', cwd=tmp_path)
    assert result.stdout.splitlines() == ["kfops.yaml is valid; pipeline notes compiles (.kfops/build/pipeline.yaml)",
                                          "status 141"]
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


# --- the exit codes, in code and in the docs ---------------------------------------------------


def documented_codes(path: Path) -> dict[int, str]:
    """The rows `| 3 | TIMEOUT | meaning |` of the exit-code table in a Markdown page."""
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| (.+) \|$", path.read_text(), flags=re.MULTILINE)
    return {int(code): f"{name}: {meaning}" for code, name, meaning in rows}


def test_docs_list_the_exit_codes_of_the_code() -> None:
    expected = {int(code): f"{code.name}: {EXIT_MEANINGS[code]}" for code in ExitCode}
    assert documented_codes(ROOT / "docs" / "commands.md") == expected
    readme = documented_codes(ROOT / "README.md")
    assert {code: text.split(":")[0] for code, text in readme.items()} == {int(c): c.name for c in ExitCode}
    assert set(EXIT_MEANINGS) == set(ExitCode)


def test_help_lists_the_exit_codes() -> None:
    help_text = kfc("--help").stdout
    for code in ExitCode:
        if code != ExitCode.INTERRUPTED:
            assert re.search(rf"\b{int(code)} ", help_text.split("exit codes:")[1]), code


# --- validate ----------------------------------------------------------------------------------


def test_validate_json(project: Path) -> None:
    result = kfc("validate", "--output", "json", "--set", "pipeline.parameters.epochs=7", cwd=project)
    assert result.returncode == 0, result.stderr
    document = as_json(result)
    assert document["ok"] is True and document["errors"] == []
    assert (project / document["config"]).resolve() == (project / "kfops.yaml").resolve()
    assert document["pipeline"] == "quickstart-classifier" and (project / document["package"]).is_file()
    parameters = {p["name"]: p for p in document["parameters"]}
    assert parameters["epochs"] == {"name": "epochs", "value": 7, "type": "int", "source": "override",
                                    "overridden": True}
    assert parameters["learning_rate"]["value"] == 0.1 and parameters["learning_rate"]["source"] == "config"
    assert result.stderr.startswith("• ")  # progress stays on stderr


def test_validate_json_lists_every_error_with_its_place(project: Path) -> None:
    config = project / "kfops.yaml"
    text = config.read_text().replace("  experiment: quickstart", "  experimnt: quickstart")
    text = text.replace("canary_percent: 10 ", "canary_percent: 150 ")
    config.write_text(text)
    lines = text.splitlines()
    typo = next(i for i, line in enumerate(lines) if "experimnt" in line) + 1
    result = kfc("validate", "-o", "json", cwd=project)
    assert result.returncode == ExitCode.BAD_INPUT
    document = as_json(result)
    assert document["ok"] is False and document["parameters"] == []
    assert len(document["errors"]) == 2
    first = document["errors"][0]
    assert (first["file"], first["line"], first["column"]) == ("kfops.yaml", typo, 3)
    assert "unknown key 'experimnt' (did you mean 'experiment'?)" in first["message"]
    assert document["error"]["kind"] == "ConfigError" and document["error"]["exit_code"] == 2
    assert "kfops.yaml: 2 configuration errors" in result.stderr  # the human text too, for CI logs


def test_usage_error_is_json_too(project: Path) -> None:
    result = kfc("validate", "-o", "json", "--no-such-flag", cwd=project)
    assert result.returncode == 2
    assert as_json(result)["error"]["message"] == "unrecognized arguments: --no-such-flag"


def test_bad_parameter_is_a_json_error_naming_the_flag(project: Path) -> None:
    result = kfc("run", "--local", "-o", "json", "--set", "pipeline.parameters.lerning_rate=1", cwd=project)
    assert result.returncode == ExitCode.BAD_INPUT
    [problem] = as_json(result)["error"]["problems"]
    assert problem["where"] == "--set pipeline.parameters.lerning_rate=1" and problem["file"] is None
    assert "did you mean 'learning_rate'?" in problem["message"]


# --- build and run -----------------------------------------------------------------------------


def test_build_no_upload_json(project: Path) -> None:
    result = kfc("build", "--no-upload", "-o", "json", cwd=project)
    assert result.returncode == 0, result.stderr
    document = as_json(result)
    assert (project / document["package"]).resolve() == (project / ".kfops" / "build" / "pipeline.yaml").resolve()
    assert document["version"] is None and document["uploaded"] is False and document["images"] == []
    assert len(document["spec_hash"]) >= 8


def test_build_json_names_the_uploaded_version(fake_kfp: Any, project: Path) -> None:
    result = remote(fake_kfp.url, "build", "-o", "json", cwd=project)
    assert result.returncode == 0, result.stderr
    document = as_json(result)
    [version] = fake_kfp.versions.values()
    assert document["version_id"] == version["pipeline_version_id"] and document["uploaded"] is True
    assert document["version"].startswith("nogit-")


def test_build_run_wait_json(fake_kfp: Any, project: Path) -> None:
    result = remote(fake_kfp.url, "build-run", "--wait", "--poll-interval", "0.05", "-o", "json",
                    "--set", "pipeline.parameters.epochs=50", cwd=project)
    assert result.returncode == 0, result.stderr
    document = as_json(result)
    [run_id] = fake_kfp.runs
    assert document["run_id"] == run_id and document["url"].endswith(f"/#/runs/details/{run_id}")
    assert document["mode"] == "remote" and document["command"] == "build-run"
    assert document["state"] == "SUCCEEDED" and document["succeeded"] is True
    assert document["status"]["finished"] is True and document["status"]["run_id"] == run_id
    assert {p["name"]: p["value"] for p in document["parameters"]}["epochs"] == 50
    # the fake serves no ML Metadata: the document says so, as the text report does
    assert document["metrics"]["values"] == [] and document["metrics"]["source"] in ("none", None)
    assert any("ML Metadata" in note for note in document["metrics"]["notes"])
    assert f"run started: {document['url']}" in result.stderr


def test_failed_run_json_exits_1_with_the_failed_task(fake_kfp: Any, project: Path) -> None:
    fake_kfp.fail_task("train", "OOMKilled: container exceeded its memory limit")
    result = remote(fake_kfp.url, "run", "--wait", "--poll-interval", "0.05", "-o", "json", cwd=project)
    assert result.returncode == ExitCode.FAILED
    document = as_json(result)
    assert document["state"] == "FAILED" and document["succeeded"] is False and document["metrics"] is None
    [train] = [t for t in document["status"]["tasks"] if t["name"] == "train"]
    assert train["state"] == "FAILED" and "OOMKilled" in train["error"]


def test_wait_timeout_exits_3_and_names_the_run(fake_kfp: Any, project: Path) -> None:
    fake_kfp.run_states = ["RUNNING"]
    result = remote(fake_kfp.url, "run", "--wait", "--poll-interval", "0.05", "--timeout", "0.5", "-o", "json",
                    cwd=project)
    assert result.returncode == ExitCode.TIMEOUT == 3
    document = as_json(result)
    [run_id] = fake_kfp.runs
    assert document["run_id"] == run_id and document["error"]["state"] == "TIMEOUT"
    assert "did not finish within 0.5s" in document["error"]["message"]
    # text mode: the same code
    text = remote(fake_kfp.url, "run", "--wait", "--poll-interval", "0.05", "--timeout", "0.3", cwd=project)
    assert text.returncode == 3 and "the run goes on in Kubeflow" in text.stderr


def test_unreachable_and_refused_credentials_exit_4(fake_kfp: Any, project: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = remote(f"http://127.0.0.1:{port}", "run", "-o", "json", cwd=project)
    assert result.returncode == ExitCode.UNREACHABLE == 4
    assert "unreachable" in as_json(result)["error"]["message"]
    secret = "wrong-token-5f2a9c81d"
    refused = remote(fake_kfp.url, "build", "-o", "json", cwd=project, token=secret)
    assert refused.returncode == 4 and as_json(refused)["error"]["kind"] == "RemoteError"
    assert secret not in refused.stdout + refused.stderr


def test_local_build_run_json(project: Path) -> None:
    result = kfc("build-run", "--local", "-o", "json", "--set", "pipeline.parameters.epochs=120", cwd=project)
    assert result.returncode == 0, result.stderr
    document = as_json(result)
    assert document["mode"] == "local" and document["state"] == "SUCCEEDED" and document["run_id"] is None
    assert (project / document["local"]["outputs_dir"]).is_dir()
    assert {t["name"] for t in document["local"]["tasks"]} >= {"train", "evaluate"}
    values = {(m["task"], m["name"]): m["value"] for m in document["metrics"]["values"]}
    assert values[("evaluate", "accuracy")] > 0.85 and document["metrics"]["source"] == "local"


# --- status ------------------------------------------------------------------------------------


def test_status_of_a_run(fake_kfp: Any, project: Path) -> None:
    run_id = fake_kfp.add_run("quickstart-classifier-pr7", pipeline="quickstart-classifier", version="v1")
    result = remote(fake_kfp.url, "status", run_id, cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Run {run_id} SUCCEEDED") and f"/#/runs/details/{run_id}" in result.stdout
    document = as_json(remote(fake_kfp.url, "status", run_id, "-o", "json", cwd=project))
    assert document["run_id"] == run_id and document["name"] == "quickstart-classifier-pr7"
    assert document["state"] == "SUCCEEDED" and document["succeeded"] is True


def test_status_of_a_failed_run_exits_1(fake_kfp: Any, project: Path) -> None:
    run_id = fake_kfp.add_run("broken", pipeline="quickstart-classifier", version="v1", states=("FAILED",))
    result = remote(fake_kfp.url, "status", run_id, "-o", "json", cwd=project)
    assert result.returncode == ExitCode.FAILED
    assert as_json(result)["state"] == "FAILED" and as_json(result)["succeeded"] is False


def test_status_wait_follows_a_running_run(fake_kfp: Any, project: Path) -> None:
    run_id = fake_kfp.add_run("long", pipeline="quickstart-classifier", version="v1",
                              states=("RUNNING", "RUNNING", "SUCCEEDED"))
    running = as_json(remote(fake_kfp.url, "status", run_id, "-o", "json", cwd=project))
    assert running["state"] == "RUNNING" and running["succeeded"] is None and running["finished"] is False
    result = remote(fake_kfp.url, "status", run_id, "--wait", "--poll-interval", "0.05", "-o", "json", cwd=project)
    assert result.returncode == 0, result.stderr
    assert as_json(result)["state"] == "SUCCEEDED"


def test_status_wait_timeout_exits_3(fake_kfp: Any, project: Path) -> None:
    run_id = fake_kfp.add_run("stuck", pipeline="quickstart-classifier", version="v1", states=("RUNNING",))
    result = remote(fake_kfp.url, "status", run_id, "--wait", "--poll-interval", "0.05", "--timeout", "0.3",
                    "-o", "json", cwd=project)
    assert result.returncode == ExitCode.TIMEOUT
    assert as_json(result)["run_id"] == run_id and as_json(result)["error"]["state"] == "TIMEOUT"


def test_status_of_an_unknown_run_is_bad_input(fake_kfp: Any, project: Path) -> None:
    result = remote(fake_kfp.url, "status", "no-such-run", cwd=project)
    assert result.returncode == ExitCode.BAD_INPUT
    assert "Kubeflow has no run no-such-run" in result.stderr and "runs/details/RUN_ID" in result.stderr
