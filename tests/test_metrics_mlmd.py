"""Reading a run's metrics from ML Metadata over grpc-web.

Every reading test runs twice: against the in-process fake built from the same wire messages, and
against a REAL MLMD store (ml-metadata's C++ core on SQLite, served over grpc-web by sonora; see
tests/fakes/mlmd_server.py), which needs `bash .ci/install-metrics-infra.sh` (skipped with that
how-to otherwise, a failure with KFOPS_REQUIRE_INFRA=1). Transport failures that a real store
cannot be made to produce (login pages, trailers-only errors, broken frames) use the fake alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_infra
from fakes.metrics_infra import HOW_TO, RealMlmd, mlmd_python
from fakes.mlmd_fake import FakeMlmd

from kfops_action.kubeflow.connection import Connection
from kfops_action.metrics import mlmd_min_pb2 as pb
from kfops_action.metrics.mlmd_grpcweb import (GrpcWebChannel, MlmdCallError, MlmdClient,
                                               MlmdUnavailable, frame, grpc_status, parse_frames)
from kfops_action.metrics.read import mlmd_metrics, read_run_metrics

TOKEN = "mlmd-test-token-4f2a9c"

SEED: dict[str, Any] = {"runs": [
    {"run_id": "run-base", "pipeline": "quickstart", "tasks": [
        {"name": "make-dataset"},
        {"name": "train", "model": True},
        {"name": "evaluate", "dag": True,
         "metrics": {"metrics": {"accuracy": 0.91, "f1": 0.87, "log_loss": 0.3, "note": "text"}}}]},
    {"run_id": "run-pr", "pipeline": "quickstart", "tasks": [
        {"name": "train", "model": True},
        {"name": "evaluate", "metrics": {"metrics": {"accuracy": 0.93, "f1": 0.86, "auc": 0.97}}},
        {"name": "slices", "metrics": {"train_metrics": {"accuracy": 0.99},
                                       "test_metrics": {"accuracy": 0.92}}}]},
    {"run_id": "run-parallel", "pipeline": "quickstart", "tasks": [
        {"name": "shard", "executions": 3, "metrics": {"metrics": {"rows": 10}}}]},
    {"run_id": "run-130", "pipeline": "quickstart", "tasks": [
        {"name": "shard", "executions": 130, "metrics": {"metrics": {"accuracy": 0.5}}}]},
    {"run_id": "run-nothing", "pipeline": "quickstart", "tasks": [{"name": "train", "model": True}]},
]}


@pytest.fixture(scope="module")
def real_mlmd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = mlmd_python()
    if python is None:
        require_infra("a real ML Metadata store (ml-metadata 1.17.1 in its own venv)", HOW_TO)
    assert python is not None
    with RealMlmd(python, tmp_path_factory.mktemp("mlmd"), SEED, token=TOKEN) as url:
        yield url


@pytest.fixture(scope="module")
def fake_mlmd() -> Iterator[FakeMlmd]:
    with FakeMlmd(SEED, token=TOKEN) as fake:
        yield fake


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.infra)])
def mlmd_url(request: pytest.FixtureRequest, fake_mlmd: FakeMlmd) -> str:
    if request.param == "fake":
        fake_mlmd.fail.clear()
        fake_mlmd.answer = None
        fake_mlmd.trailers = "body"
        return fake_mlmd.url
    return str(request.getfixturevalue("real_mlmd"))


def client(url: str, token: str | None = TOKEN, **kwargs: Any) -> MlmdClient:
    return MlmdClient(GrpcWebChannel(url, token=token, timeout=10, **kwargs))


# -- reading, against both --------------------------------------------------------------------


def test_metrics_of_a_run_by_task(mlmd_url: str) -> None:
    """Strings, display_name and store_session_info are not metrics; the DAG that re-publishes
    the evaluation's artifact does not duplicate it under the pipeline's name."""
    assert mlmd_metrics(client(mlmd_url), "run-base") == {
        "evaluate": {"accuracy": 0.91, "f1": 0.87, "log_loss": 0.3}}


def test_several_metrics_outputs_of_one_task_are_keyed_by_output(mlmd_url: str) -> None:
    assert mlmd_metrics(client(mlmd_url), "run-pr") == {
        "evaluate": {"accuracy": 0.93, "f1": 0.86, "auc": 0.97},
        "slices/test_metrics": {"accuracy": 0.92},
        "slices/train_metrics": {"accuracy": 0.99}}


def test_parallel_executions_are_numbered_in_order(mlmd_url: str) -> None:
    assert mlmd_metrics(client(mlmd_url), "run-parallel") == {
        "shard#1": {"rows": 10.0, "shard": 0.0}, "shard#2": {"rows": 10.0, "shard": 1.0},
        "shard#3": {"rows": 10.0, "shard": 2.0}}


def test_130_artifacts_come_back_through_pages_of_at_most_100(mlmd_url: str) -> None:
    metrics = mlmd_metrics(client(mlmd_url), "run-130")
    assert metrics is not None and len(metrics) == 130
    assert metrics["shard#130"] == {"accuracy": 0.5, "shard": 129.0}


def test_artifacts_by_id_give_the_model_uri_for_deploy(mlmd_url: str) -> None:
    """/deploy resolves the artifact ids KFP's REST API lists into their URIs."""
    mlmd = client(mlmd_url)
    context = mlmd.run_context("system.PipelineRun", "run-pr")
    [model_id] = [a.id for a in mlmd.artifacts_by_context(context.id) if a.uri.endswith("/train/model")]
    [artifact] = mlmd.artifacts_by_id([model_id, 999_999])  # an unknown id is left out, not an error
    assert artifact.uri == "minio://mlpipeline/v2/artifacts/run-pr/train/model"
    assert artifact.type == "system.Model"


def test_an_unknown_run_is_none_not_an_error(mlmd_url: str) -> None:
    assert mlmd_metrics(client(mlmd_url), "no-such-run") is None


def test_a_run_without_metrics_artifacts_is_empty(mlmd_url: str) -> None:
    assert mlmd_metrics(client(mlmd_url), "run-nothing") == {}


def test_an_mlmd_error_code_is_surfaced_with_its_message(mlmd_url: str) -> None:
    """max_result_size 0 is MLMD's INVALID_ARGUMENT (from the real core: its own wording)."""
    request = pb.GetArtifactsByContextRequest(context_id=1,
                                              options=pb.ListOperationOptions(max_result_size=0))
    with pytest.raises(MlmdCallError) as caught:
        client(mlmd_url).channel.call("GetArtifactsByContext", request,
                                      pb.GetArtifactsByContextResponse)
    assert caught.value.code == 3
    assert "INVALID_ARGUMENT" in caught.value.what and "max_result_size" in caught.value.what


def test_pages_above_100_are_never_requested(mlmd_url: str) -> None:
    """Above 100, MLMD silently returns 101 items and no token: the client must not ask."""
    request = pb.GetArtifactsByContextRequest(context_id=_context_id(mlmd_url, "run-130"),
                                              options=pb.ListOperationOptions(max_result_size=500))
    reply = client(mlmd_url).channel.call("GetArtifactsByContext", request,
                                          pb.GetArtifactsByContextResponse)
    assert len(reply.artifacts) == 101 and not reply.next_page_token  # the trap itself
    assert len(client(mlmd_url).artifacts_by_context(_context_id(mlmd_url, "run-130"))) == 130


def _context_id(url: str, run_id: str) -> int:
    context = client(url).run_context("system.PipelineRun", run_id)
    assert context is not None
    return int(context.id)


def test_wrong_credentials_are_unavailable_not_a_crash(mlmd_url: str) -> None:
    with pytest.raises(MlmdUnavailable) as caught:
        client(mlmd_url, token="wrong-token-123").run_context("system.PipelineRun", "run-pr")
    assert caught.value.status == 401
    assert "wrong-token-123" not in str(caught.value)


def test_the_session_cookie_works_like_the_token(mlmd_url: str) -> None:
    c = client(mlmd_url, token=None, cookie=f"oauth2_proxy_kubeflow={TOKEN}")
    assert mlmd_metrics(c, "run-base") == {"evaluate": {"accuracy": 0.91, "f1": 0.87,
                                                        "log_loss": 0.3}}


def test_read_run_metrics_reports_the_source(mlmd_url: str) -> None:
    result = read_run_metrics("run-pr", mlmd=client(mlmd_url))
    assert result.source == "mlmd" and result.metrics["evaluate"]["accuracy"] == 0.93


def test_the_minimal_proto_matches_the_real_one_on_the_wire() -> None:
    """Field numbers of the subset against ml-metadata's own descriptors (in its venv)."""
    python = mlmd_python()
    if python is None:
        require_infra("ml-metadata's own protos", HOW_TO)
    assert python is not None
    import subprocess

    ours = {name: _fields(getattr(pb, name).DESCRIPTOR) for name in _MESSAGES}
    script = ("import json;from ml_metadata.proto import metadata_store_pb2 as m, "
              "metadata_store_service_pb2 as s\n"
              "def f(d): return {x.name: [x.number, x.type, x.label] for x in d.fields}\n"
              f"names = {list(_MESSAGES)!r}\n"
              "print(json.dumps({n: f((getattr(m, n, None) or getattr(s, n)).DESCRIPTOR) "
              "for n in names}))")
    theirs = json.loads(subprocess.run([python, "-c", script], capture_output=True, text=True,
                                       check=True, timeout=60).stdout)
    for name, fields in ours.items():
        for field, (number, ftype, label) in fields.items():
            real = theirs[name][field]
            assert real[0] == number and (real[2] == 3) == (label == 3), (name, field)
            # int32 for MLMD's enums (same varint encoding); otherwise the very same type
            assert real[1] == ftype or (ftype == 5 and real[1] == 14), (name, field)


_MESSAGES = ("Value", "Artifact", "ArtifactType", "Execution", "Context", "Event",
             "ListOperationOptions", "GetContextByTypeAndNameRequest",
             "GetContextByTypeAndNameResponse", "GetExecutionsByContextRequest",
             "GetExecutionsByContextResponse", "GetArtifactsByContextRequest",
             "GetArtifactsByContextResponse", "GetEventsByExecutionIDsRequest",
             "GetEventsByExecutionIDsResponse", "GetArtifactTypesResponse",
             "GetArtifactsByIDRequest", "GetArtifactsByIDResponse")


def _fields(descriptor: Any) -> dict[str, tuple[int, int, int]]:
    return {f.name: (f.number, f.type, 3 if f.is_repeated else 1) for f in descriptor.fields}


# -- the fake alone: what a real store cannot be made to do ------------------------------------


def test_an_older_server_without_artifact_types_costs_one_more_call() -> None:
    with FakeMlmd(SEED, fill_types=False) as fake:
        assert mlmd_metrics(client(fake.url, token=None), "run-base") == {
            "evaluate": {"accuracy": 0.91, "f1": 0.87, "log_loss": 0.3}}
        assert "GetArtifactTypes" in fake.calls


def test_the_request_headers_are_grpc_web(fake_mlmd: FakeMlmd) -> None:
    fake_mlmd.headers_seen.clear()
    client(fake_mlmd.url).run_context("system.PipelineRun", "run-pr")
    headers = fake_mlmd.headers_seen[-1]
    assert headers["Content-Type"] == "application/grpc-web+proto"
    assert headers["X-Grpc-Web"] == "1" and headers["TE"] == "trailers"
    assert headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_rotated_token_is_read_for_each_call(fake_mlmd: FakeMlmd, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("old-token-aaaa")
    conn = Connection(endpoint=f"{fake_mlmd.url}/pipeline", token="old-token-aaaa",
                      token_file=str(token_file))
    mlmd = MlmdClient.from_connection(conn)
    assert mlmd.channel.base_url == fake_mlmd.url  # the host's root, not /pipeline
    with pytest.raises(MlmdUnavailable):
        mlmd.run_context("system.PipelineRun", "run-pr")
    token_file.write_text(TOKEN)
    assert mlmd.run_context("system.PipelineRun", "run-pr") is not None


@pytest.mark.parametrize("where", ["body", "headers"])
def test_error_status_in_trailers_or_trailers_only_headers(fake_mlmd: FakeMlmd, where: str) -> None:
    fake_mlmd.trailers = where
    fake_mlmd.fail["GetContextByTypeAndName"] = (14, "upstream connect error: 100% down")
    try:
        with pytest.raises(MlmdCallError) as caught:
            client(fake_mlmd.url).run_context("system.PipelineRun", "run-pr")
    finally:
        fake_mlmd.fail.clear()
        fake_mlmd.trailers = "body"
    assert caught.value.code == 14
    assert "UNAVAILABLE" in caught.value.what and "100% down" in caught.value.what


def _answer_with(status: int, headers: dict[str, str], body: bytes) -> Any:
    def answer(h: Any) -> bool:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
        return True

    return answer


@pytest.mark.parametrize("status,headers,body,expected", [
    (302, {"Location": "/oauth2/start?rd=%2F"}, b"", "redirected to /oauth2/start"),
    (200, {"Content-Type": "text/html"}, b"<html>login</html>", "HTML page"),
    (404, {"Content-Type": "text/plain"}, b"404 page not found", "HTTP 404"),
    (403, {"Content-Type": "text/plain"}, b"RBAC: access denied", "HTTP 403"),
    (503, {"Content-Type": "text/plain"}, b"no healthy upstream", "HTTP 503"),
    (200, {"Content-Type": "application/grpc-web-text"}, b"AAAA", "grpc-web-text"),
])
def test_not_mlmd_is_unavailable(fake_mlmd: FakeMlmd, status: int, headers: dict[str, str],
                                 body: bytes, expected: str) -> None:
    fake_mlmd.answer = _answer_with(status, headers, body)
    try:
        with pytest.raises(MlmdUnavailable) as caught:
            client(fake_mlmd.url).run_context("system.PipelineRun", "run-pr")
    finally:
        fake_mlmd.answer = None
    assert expected in caught.value.what
    assert "metadata-grpc" in (caught.value.fix or "")


GRPC_WEB = {"Content-Type": "application/grpc-web+proto"}


@pytest.mark.parametrize("body,expected", [
    (b"\x00\x00\x00\x00\x09abc", "announces 9 bytes"),
    (b"\x00\x00\x00", "truncated frame header"),
    (b"\x01\x00\x00\x00\x00", "compressed"),
    (frame(b""), "without a grpc-status"),
    (frame(b"") + frame(b"") + frame(b"grpc-status: 0", trailer=True), "2 messages"),
    (frame(b"\xff\xff") + frame(b"grpc-status: 0", trailer=True), "cannot decode"),
])
def test_broken_replies_are_clear_errors(fake_mlmd: FakeMlmd, body: bytes, expected: str) -> None:
    fake_mlmd.answer = _answer_with(200, GRPC_WEB, body)
    try:
        with pytest.raises(MlmdCallError) as caught:
            client(fake_mlmd.url).run_context("system.PipelineRun", "run-pr")
    finally:
        fake_mlmd.answer = None
    assert expected in caught.value.what


def test_an_unreachable_host_is_unavailable_and_fast() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(MlmdUnavailable) as caught:
        client(f"http://127.0.0.1:{port}").run_context("system.PipelineRun", "x")
    assert "connection refused" in caught.value.what


def test_secrets_echoed_by_a_proxy_are_scrubbed(fake_mlmd: FakeMlmd) -> None:
    fake_mlmd.answer = _answer_with(200, GRPC_WEB, frame(
        f"grpc-status: 16\r\ngrpc-message: bad token {TOKEN} / session=cookie-value-xyz".encode(),
        trailer=True))
    try:
        with pytest.raises(MlmdCallError) as caught:
            client(fake_mlmd.url, cookie="session=cookie-value-xyz",
                   secrets=("cookie-value-xyz",)).run_context("system.PipelineRun", "x")
    finally:
        fake_mlmd.answer = None
    assert TOKEN not in str(caught.value) and "cookie-value-xyz" not in str(caught.value)
    assert "UNAUTHENTICATED" in caught.value.what


# -- framing (pure) ----------------------------------------------------------------------------


def test_frames_round_trip_and_trailers_are_lower_cased() -> None:
    body = frame(b"abc") + frame(b"Grpc-Status: 0\r\nGrpc-Message: ok%20then\r\n", trailer=True)
    messages, trailers = parse_frames(body)
    assert messages == [b"abc"] and trailers == {"grpc-status": "0", "grpc-message": "ok%20then"}
    assert grpc_status({}, trailers) == (0, "ok then")
    assert grpc_status({"Grpc-Status": "5", "Grpc-Message": "not%20found"}, {}) == (5, "not found")
    assert grpc_status({}, {}) is None
    assert grpc_status({}, {"grpc-status": "junk"}) == (2, "")


# -- fallback when MLMD is not there ----------------------------------------------------------


def test_unreachable_mlmd_falls_back_to_the_metrics_file(fake_mlmd: FakeMlmd) -> None:
    fake_mlmd.answer = _answer_with(404, {"Content-Type": "text/plain"}, b"404 page not found")
    seen: list[tuple[str, str]] = []

    def reader(run_id: str, name: str) -> bytes:
        seen.append((run_id, name))
        return json.dumps({"evaluate": {"accuracy": 0.9}, "rows": 3, "tag": "x"}).encode()

    try:
        result = read_run_metrics("run-pr", mlmd=client(fake_mlmd.url), fallback=reader,
                                  file_name="m.json")
    finally:
        fake_mlmd.answer = None
    assert result.source == "metrics-file"
    assert result.metrics == {"evaluate": {"accuracy": 0.9}, "metrics": {"rows": 3.0}}
    assert seen == [("run-pr", "m.json")]
    assert any("HTTP 404" in note for note in result.notes)


def test_no_source_at_all_says_why(fake_mlmd: FakeMlmd) -> None:
    result = read_run_metrics("no-such-run", mlmd=client(fake_mlmd.url),
                              fallback=lambda run_id, name: None)
    assert result.source == "none" and result.empty
    assert result.notes == ("ML Metadata has no run no-such-run",
                            "the run wrote no metrics file kfops-metrics.json")


def test_a_broken_metrics_file_is_a_note_not_a_crash() -> None:
    result = read_run_metrics("r", mlmd=None, fallback=lambda run_id, name: b"[1, 2")
    assert result.source == "none" and any("not valid" in n for n in result.notes)
