"""The calls the CLI and the Action make: the example pipeline's metrics, locally and "remote"
(its real local-run metrics published into the MLMD fake as KFP would), compared and rendered;
the metrics file convention's readers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import require_infra
from fakes.metrics_infra import HOW_TO, RealMlmd, mlmd_python
from fakes.mlmd_fake import FakeMlmd

from kfops_action.kubeflow.connection import Connection
from kfops_action.metrics.baseline import BaselineRef
from kfops_action.metrics.config import MetricsConfig
from kfops_action.metrics.fallback import ArtifactsEndpointReader, local_file_reader, metrics_file_uri
from kfops_action.metrics.render import markdown_comparison, terminal_comparison
from kfops_action.metrics.service import (compare_local_run, compare_remote_run,
                                          local_run_comparison_text, remote_reader,
                                          remote_run_comparison_text)

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart"


@pytest.fixture(scope="module")
def quickstart_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two local runs of the example (a baseline and a 'PR' with fewer epochs), through kfops'
    own compile and local-run code."""
    from kfp.local import config as local_config

    from kfops_action.pipeline.local_run import run_local
    from kfops_action.pipeline.package import compile_pipeline
    from kfops_action.pipeline.source import load_pipeline_function

    tmp = tmp_path_factory.mktemp("quickstart")
    package = compile_pipeline(load_pipeline_function(QUICKSTART / "pipeline.py",
                                                      "training_pipeline"), tmp / "p.yaml")
    try:
        runs = {"base": run_local(package, {}, tmp / "base"),
                "pr": run_local(package, {"epochs": 5, "learning_rate": 0.01}, tmp / "pr")}
        yield runs
    finally:
        local_config.LocalExecutionConfig.instance = None


def test_the_example_logs_metrics_a_local_run_shows(quickstart_runs: dict[str, Any]) -> None:
    comparison = compare_local_run(quickstart_runs["pr"], MetricsConfig())
    names = {r.name for r in comparison.rows if r.task == "evaluate"}
    assert {"accuracy", "precision", "recall", "f1", "log_loss", "test_rows"} <= names
    text = terminal_comparison(comparison)
    assert text.startswith("No baseline to compare with; metrics read from the local run's outputs")
    assert "evaluate  accuracy" in text
    assert local_run_comparison_text(quickstart_runs["pr"], {}) == text  # what kfc prints


def test_kfc_run_wait_text(quickstart_runs: dict[str, Any]) -> None:
    with FakeMlmd(_kfp_seed(quickstart_runs)) as fake:
        text = remote_run_comparison_text("run-pr", {"key_metric": "accuracy"},
                                          conn=Connection(endpoint=f"{fake.url}/pipeline"),
                                          default_branch=lambda: "run-base")
    lines = text.splitlines()
    assert lines[0].startswith("Compared with the latest successful run of the default branch "
                               "(run run-base); metrics read from ML Metadata")
    assert re.match(r"evaluate +accuracy \* +0\.94 +0\.933333 +\+0\.006667 +▲ better", lines[4])


def _kfp_seed(runs: dict[str, Any]) -> dict[str, Any]:
    """The local runs' metrics published the way KFP's launcher publishes a remote run's."""
    return {"runs": [{"run_id": f"run-{key}", "pipeline": "quickstart-classifier", "tasks": [
        {"name": task.name, "metrics": {"metrics": task.metrics}} if task.metrics else
        {"name": task.name, "model": task.name == "train"}
        for task in result.tasks]} for key, result in runs.items()]}


@contextmanager
def _mlmd(kind: str, seed: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    if kind == "fake":
        with FakeMlmd(seed, token="t-123456") as fake:
            yield fake.url
        return
    python = mlmd_python()
    if python is None:
        require_infra("a real ML Metadata store (ml-metadata 1.17.1 in its own venv)", HOW_TO)
    assert python is not None
    with RealMlmd(python, tmp_path, seed, token="t-123456") as url:
        yield url


@pytest.mark.parametrize("kind", ["fake", pytest.param("real", marks=pytest.mark.infra)])
def test_the_example_remote_run_against_production(quickstart_runs: dict[str, Any], kind: str,
                                                   tmp_path: Path) -> None:
    with _mlmd(kind, _kfp_seed(quickstart_runs), tmp_path) as url:
        conn = Connection(endpoint=f"{url}/pipeline", token="t-123456")
        read = remote_reader(conn, MetricsConfig())
        comparison = compare_remote_run(
            "run-pr", MetricsConfig(key_metric="accuracy"), read=read,
            production=lambda: BaselineRef("run-base", "InferenceService ml-production/quickstart"))
    assert comparison.source == "mlmd" and comparison.baseline.run_id == "run-base"
    verdicts = {r.name: r.verdict for r in comparison.rows}
    # 5 epochs at a tenth of the learning rate: a hair more accurate on this test set, but far
    # less calibrated (log loss 0.17 -> 0.67): exactly the mixed picture a reviewer must see
    assert verdicts["accuracy"] == "better" and verdicts["log_loss"] == "worse"
    assert verdicts["test_rows"] == "same"
    markdown = markdown_comparison(comparison)
    assert "| evaluate | **accuracy** |" in markdown
    assert "▲ better" in markdown and "▲ worse" in markdown
    assert "```mermaid\nxychart-beta" in markdown


def test_the_same_local_run_compares_with_a_remote_baseline(quickstart_runs: dict[str, Any]) -> None:
    with FakeMlmd(_kfp_seed(quickstart_runs)) as fake:
        read = remote_reader(Connection(endpoint=fake.url), MetricsConfig())
        comparison = compare_local_run(quickstart_runs["base"], MetricsConfig(), read=read,
                                       production=lambda: None, default_branch=lambda: "run-pr")
    assert comparison.baseline.kind == "default-branch"
    verdicts = {r.name: r.verdict for r in comparison.rows}
    assert verdicts["accuracy"] == "worse" and verdicts["log_loss"] == "better"


def test_mlmd_off_goes_straight_to_the_metrics_file() -> None:
    ui = _Ui(200, json.dumps({"evaluate": {"accuracy": 0.5}}).encode())
    try:
        config = MetricsConfig.from_config({"mlmd_endpoint": "off", "fallback_file": "m.json"})
        conn = Connection(endpoint=f"{ui.url}/pipeline", namespace="team-a")
        read = remote_reader(conn, config,
                             pipeline_root="minio://mlpipeline/private-artifacts/team-a/v2")
        result = read("run-1")
    finally:
        ui.close()
    assert result.source == "metrics-file" and result.metrics == {"evaluate": {"accuracy": 0.5}}
    assert [path.split("?")[0] for path, _ in ui.requests] == ["/pipeline/artifacts/get"]
    assert "key=private-artifacts%2Fteam-a%2Fv2%2Fkfops-metrics%2Frun-1%2Fm.json" in \
        ui.requests[0][0]
    assert "metrics.mlmd_endpoint: off" in result.notes[0]


# -- the metrics file convention --------------------------------------------------------------


def test_metrics_file_uri() -> None:
    assert metrics_file_uri("s3://b/root/", "r-1") == "s3://b/root/kfops-metrics/r-1/kfops-metrics.json"


def test_local_file_reader(tmp_path: Path) -> None:
    target = tmp_path / "kfops-metrics" / "local-job-1" / "kfops-metrics.json"
    target.parent.mkdir(parents=True)
    target.write_text('{"accuracy": 1}')
    read = local_file_reader(tmp_path)
    assert read("local-job-1", "kfops-metrics.json") == b'{"accuracy": 1}'
    assert read("", "kfops-metrics.json") == b'{"accuracy": 1}'  # any run folder
    assert read("x", "other.json") is None


class _Ui:
    """A stand-in for KFP UI's /artifacts/get, on loopback."""

    def __init__(self, status: int, body: bytes, ctype: str = "application/octet-stream") -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading

        ui = self
        self.requests: list[tuple[str, dict[str, str]]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                ui.requests.append((self.path, dict(self.headers)))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status,ctype,expected", [
    (200, "application/octet-stream", b'{"a": 1}'), (404, "text/plain", None),
])
def test_artifacts_endpoint_reader(status: int, ctype: str, expected: bytes | None) -> None:
    ui = _Ui(status, b'{"a": 1}' if status == 200 else b"not found", ctype)
    try:
        conn = Connection(endpoint=f"{ui.url}/pipeline", token="tok-abcdef", namespace="team-a")
        reader = ArtifactsEndpointReader(conn, "minio://mlpipeline/private-artifacts/team-a/v2")
        assert reader("run-9", "kfops-metrics.json") == expected
        path, headers = ui.requests[0]
    finally:
        ui.close()
    assert path.startswith("/pipeline/artifacts/get?")
    assert "key=private-artifacts%2Fteam-a%2Fv2%2Fkfops-metrics%2Frun-9%2Fkfops-metrics.json" in path
    assert "source=minio" in path and "bucket=mlpipeline" in path and "namespace=team-a" in path
    assert headers["Authorization"] == "Bearer tok-abcdef"


@pytest.mark.parametrize("status,ctype", [(200, "text/html"), (403, "text/plain"), (302, "")])
def test_artifacts_endpoint_reader_refusals_are_errors(status: int, ctype: str) -> None:
    from kfops_action.errors import RemoteError

    ui = _Ui(status, b"<html>login</html>", ctype)
    try:
        reader = ArtifactsEndpointReader(Connection(endpoint=ui.url), "gs://bucket/root")
        with pytest.raises(RemoteError):
            reader("run-9", "kfops-metrics.json")
    finally:
        ui.close()


def test_artifacts_endpoint_reader_needs_an_object_store_root() -> None:
    from kfops_action.errors import RemoteError

    with pytest.raises(RemoteError):
        ArtifactsEndpointReader(Connection(endpoint="http://x"), "/local/path")("r", "f")
