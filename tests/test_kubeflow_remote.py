"""KfpRemote against the fake KFP server, directly and through Prism (KFP's own API spec).

`kfp_endpoint` runs each test twice: straight at the fake, and through `prism proxy --errors`,
which rejects any request or response that breaks KFP's published v2beta1 contract.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import FAKE_TOKEN
from fakes.fake_kfp import FakeKfp, check_model
from fakes.prism import free_port

from kfops_action.errors import PipelineError, RemoteError
from kfops_action.kubeflow.connection import Connection, resolve_connection
from kfops_action.kubeflow.remote import KfpRemote, NotFound, RunStatus, Unreachable

PIPELINE_SOURCE = '''
from kfp import compiler, dsl


@dsl.component(base_image="python:3.11-slim")
def train(epochs: int, lr: float) -> str:
    return f"{epochs}-{lr}"


@dsl.component(base_image="python:3.11-slim")
def evaluate(model: str) -> float:
    return 1.0


@dsl.pipeline(name="demo")
def demo(epochs: int = 3, lr: float = 0.1):
    evaluate(model=train(epochs=epochs, lr=lr).output)


compiler.Compiler().compile(demo, "demo.yaml")
'''


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real package from kfp's compiler (in a subprocess: kfp needs the source file)."""
    folder = tmp_path_factory.mktemp("package")
    (folder / "pipeline.py").write_text(PIPELINE_SOURCE)
    subprocess.run([sys.executable, "pipeline.py"], cwd=folder, check=True, timeout=120)
    return folder / "demo.yaml"


def remote(url: str, **kwargs) -> KfpRemote:
    kwargs.setdefault("token", FAKE_TOKEN)
    kwargs.setdefault("timeout", 10.0)
    return KfpRemote(Connection(url, **kwargs))


def names(versions: list[dict]) -> list[str]:
    return sorted(v["name"] for v in versions)


# -- pipelines --------------------------------------------------------------------------------


def test_pipeline_version_is_uploaded_once_then_reused(kfp_endpoint, fake_kfp, package):
    kfp = remote(kfp_endpoint)
    first = kfp.ensure_pipeline_version("demo", "abc123", package, "the demo")
    again = kfp.ensure_pipeline_version("demo", "abc123", package, "the demo")

    assert first.created and not again.created
    assert (again.pipeline_id, again.version_id) == (first.pipeline_id, first.version_id)
    assert (again.pipeline_name, again.version_name) == ("demo", "abc123")
    assert len(fake_kfp.requests_to("POST", "/pipelines/upload_version")) == 1
    assert fake_kfp.packages[first.version_id] == package.read_bytes()


def test_first_version_carries_the_requested_name(kfp_endpoint, fake_kfp, package):
    ref = remote(kfp_endpoint).ensure_pipeline_version("demo", "abc123", package)
    assert names(fake_kfp.versions_of(ref.pipeline_id)) == ["abc123"]
    assert fake_kfp.versions[ref.version_id]["pipeline_spec"]["pipelineInfo"]["name"] == "demo"


def test_new_version_name_adds_a_version_to_the_same_pipeline(kfp_endpoint, fake_kfp, package):
    kfp = remote(kfp_endpoint)
    v1 = kfp.ensure_pipeline_version("demo", "v1", package)
    v2 = kfp.ensure_pipeline_version("demo", "v2", package)

    assert v2.created and v2.pipeline_id == v1.pipeline_id and v2.version_id != v1.version_id
    assert len(fake_kfp.pipelines) == 1
    assert names(fake_kfp.versions_of(v1.pipeline_id)) == ["v1", "v2"]


def test_pipeline_uploaded_by_other_tools_gets_our_version(kfp_endpoint, fake_kfp, package):
    """A pipeline made with kfp.Client's upload already has a version named after itself."""
    kfp = remote(kfp_endpoint)
    existing = fake_kfp.add_pipeline("demo", versions=("demo",))

    ref = kfp.ensure_pipeline_version("demo", "v7", package)
    assert ref.created and ref.pipeline_id == existing["pipeline_id"]
    assert names(fake_kfp.versions_of(ref.pipeline_id)) == ["demo", "v7"]


def test_pipeline_lookup_is_namespace_aware(kfp_endpoint, fake_kfp, package):
    shared = remote(kfp_endpoint).ensure_pipeline_version("demo", "v1", package)
    team = remote(kfp_endpoint, namespace="team-a").ensure_pipeline_version("demo", "v1",
                                                                          package)
    assert team.created and team.pipeline_id != shared.pipeline_id
    assert fake_kfp.pipelines[team.pipeline_id]["namespace"] == "team-a"
    lookups = fake_kfp.requests_to("GET", "/pipelines/names/demo")
    assert [r.query.get("namespace") for r in lookups] == [None, "team-a"]


def test_kfp_without_the_by_name_route_falls_back_to_a_filtered_list(fake_kfp, package):
    """A KFP without the by-name route answers with Go's plain 404 (direct only: Prism, rightly,
    flags a text/plain answer the spec does not describe)."""
    fake_kfp.legacy_routes = True
    kfp = remote(fake_kfp.url)
    first = kfp.ensure_pipeline_version("demo", "v1", package)
    again = kfp.ensure_pipeline_version("demo", "v1", package)
    assert again.pipeline_id == first.pipeline_id and not again.created
    listed = fake_kfp.requests_to("GET", "/apis/v2beta1/pipelines")
    assert listed and json.loads(listed[-1].query["filter"])["predicates"][0] == {
        "key": "name", "operation": "EQUALS", "string_value": "demo"}


def test_package_with_a_name_kfp_cannot_parse_is_refused_before_any_request(fake_kfp,
                                                                          tmp_path):
    bad = tmp_path / "pipeline.json"
    bad.write_text("{}")
    with pytest.raises(PipelineError, match=r"\.yaml"):
        remote(fake_kfp.url).ensure_pipeline_version("demo", "v1", bad)
    assert fake_kfp.requests == []


def test_missing_package_is_a_pipeline_error(fake_kfp, tmp_path):
    with pytest.raises(PipelineError, match="does not exist"):
        remote(fake_kfp.url).ensure_pipeline_version("demo", "v1", tmp_path / "gone.yaml")


def test_version_created_concurrently_is_reused_not_an_error(fake_kfp, package):
    """Two /build commands racing: our upload gets 409, the other build's version is used."""
    kfp = remote(fake_kfp.url)
    pipeline = fake_kfp.add_pipeline("demo", versions=("v1",))
    fake_kfp.tamper(lambda page: {"total_size": 0}, "list_versions")  # our lookup misses it
    ref = kfp.ensure_pipeline_version("demo", "v1", package)
    assert not ref.created
    assert len(fake_kfp.versions_of(pipeline["pipeline_id"])) == 1


def test_version_match_is_exact_even_if_a_server_ignores_the_filter(fake_kfp, package):
    pipeline = fake_kfp.add_pipeline("demo", versions=("v1", "v2"))
    everything = {"pipeline_versions": fake_kfp.versions_of(pipeline["pipeline_id"])}
    fake_kfp.tamper(lambda page: everything, "list_versions")
    ref = remote(fake_kfp.url).ensure_pipeline_version("demo", "v2", package)
    assert fake_kfp.versions[ref.version_id]["name"] == "v2" and not ref.created


# -- experiments ------------------------------------------------------------------------------


def test_experiment_is_created_once_then_found(kfp_endpoint, fake_kfp):
    kfp = remote(kfp_endpoint, namespace="team-a")
    first = kfp.ensure_experiment("kfops-demo")
    again = kfp.ensure_experiment("kfops-demo")

    assert first == again
    created = fake_kfp.requests_to("POST", "/experiments")
    assert len(created) == 1
    assert created[0].body == {"display_name": "kfops-demo", "namespace": "team-a"}
    assert fake_kfp.requests_to("GET", "/experiments")[0].query["namespace"] == "team-a"


def test_experiments_with_other_names_are_not_reused(kfp_endpoint, fake_kfp):
    kfp = remote(kfp_endpoint)
    assert kfp.ensure_experiment("a") != kfp.ensure_experiment("b")
    assert sorted(e["display_name"] for e in fake_kfp.experiments.values()) == ["a", "b"]


def test_experiment_created_concurrently_is_reused(fake_kfp):
    existing = fake_kfp.add_experiment("kfops-demo")
    fake_kfp.tamper(lambda page: {"total_size": 0}, "list_experiments")  # lookup misses it
    assert remote(fake_kfp.url).ensure_experiment("kfops-demo") == existing["experiment_id"]


# -- runs -------------------------------------------------------------------------------------


def start(kfp: KfpRemote, package: Path, **kwargs):
    version = kfp.ensure_pipeline_version("demo", "v1", package)
    experiment = kfp.ensure_experiment("kfops-demo")
    kwargs.setdefault("parameters", {"epochs": 5, "lr": 0.01})
    return version, experiment, kfp.start_run(display_name="demo-abc123", experiment_id=experiment,
                                              version=version, **kwargs)


def test_start_run_sends_parameters_service_account_root_and_version(kfp_endpoint, fake_kfp,
                                                                     package):
    kfp = remote(kfp_endpoint)
    version, experiment, run = start(kfp, package, service_account="trainer",
                                     pipeline_root="gs://bucket/root",
                                     description="kfops: demo at abc123")
    body = fake_kfp.requests_to("POST", "/runs")[0].body

    assert body == {
        "display_name": "demo-abc123",
        "description": "kfops: demo at abc123",
        "experiment_id": experiment,
        "pipeline_version_reference": {"pipeline_id": version.pipeline_id,
                                       "pipeline_version_id": version.version_id},
        "runtime_config": {"parameters": {"epochs": 5, "lr": 0.01},
                           "pipeline_root": "gs://bucket/root"},
        "service_account": "trainer",
    }
    assert run.run_id in fake_kfp.runs
    assert (run.display_name, run.experiment_id) == ("demo-abc123", experiment)
    assert run.url == f"{kfp_endpoint}/#/runs/details/{run.run_id}"


def test_optional_run_fields_are_left_out_when_not_given(kfp_endpoint, fake_kfp, package):
    start(remote(kfp_endpoint), package, parameters={})
    body = fake_kfp.requests_to("POST", "/runs")[0].body
    assert "service_account" not in body and "description" not in body
    assert body["runtime_config"] == {"parameters": {}}


def test_run_links_point_at_the_ui_endpoint(fake_kfp, package):
    kfp = remote(fake_kfp.url, ui_endpoint="https://kubeflow.example.com/pipeline")
    _, _, run = start(kfp, package)
    assert run.url == f"https://kubeflow.example.com/pipeline/#/runs/details/{run.run_id}"


def test_get_run_follows_the_states_and_tasks(kfp_endpoint, fake_kfp, package):
    fake_kfp.tasks = ["train", "evaluate"]
    kfp = remote(kfp_endpoint)
    _, _, run = start(kfp, package)
    seen = [kfp.get_run(run.run_id) for _ in range(3)]

    assert [s.state for s in seen] == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert [s.terminal for s in seen] == [False, False, True]
    assert seen[-1].succeeded
    assert seen[1].tasks[0].name == "train" and seen[1].tasks[0].state == "RUNNING"
    assert {t.state for t in seen[-1].tasks} == {"SUCCEEDED"}
    assert seen[0].finished_at is None  # KFP's "1970-01-01T00:00:00Z" means not finished
    assert seen[-1].finished_at is not None and seen[-1].created_at is not None


def test_a_run_is_read_back_with_its_name_experiment_and_version(kfp_endpoint, fake_kfp, package):
    """What /deploy and /cancel check a status comment's record against (chatops/provenance.py)."""
    kfp = remote(kfp_endpoint, namespace="team-a")
    version, experiment_id, run = start(kfp, package)
    status = kfp.get_run(run.run_id)
    assert (status.display_name, status.experiment_id) == (run.display_name, experiment_id)
    assert (status.pipeline_id, status.pipeline_version_id) == (version.pipeline_id, version.version_id)
    read = kfp.get_pipeline_version(version.pipeline_id, version.version_id)
    assert (read.pipeline_name, read.version_name) == (version.pipeline_name, version.version_name)
    experiment = kfp.get_experiment(experiment_id)
    assert (experiment.experiment_id, experiment.namespace) == (experiment_id, "team-a")


def test_get_run_reports_the_failed_task_and_its_error(kfp_endpoint, fake_kfp, package):
    fake_kfp.tasks = ["prepare", "train", "evaluate"]
    fake_kfp.fail_task("train", "OOMKilled: container exceeded 4Gi")
    fake_kfp.run_states = ["FAILED"]
    kfp = remote(kfp_endpoint)
    _, _, run = start(kfp, package)
    status = kfp.get_run(run.run_id)

    assert status.state == "FAILED" and status.terminal and not status.succeeded
    assert status.failed_tasks[0].name == "train"
    assert status.failed_tasks[0].error == "OOMKilled: container exceeded 4Gi"
    assert "train" in (status.error or "")


def test_terminate_cancels_the_run(kfp_endpoint, fake_kfp, package):
    fake_kfp.run_states = ["RUNNING"]
    kfp = remote(kfp_endpoint)
    _, _, run = start(kfp, package)
    kfp.terminate_run(run.run_id)

    assert fake_kfp.requests_to("POST", f"/runs/{run.run_id}:terminate")
    states = [kfp.get_run(run.run_id).state for _ in range(2)]
    assert states == ["CANCELING", "CANCELED"]


def test_reading_an_unknown_run_is_a_clear_not_found(kfp_endpoint, fake_kfp):
    with pytest.raises(NotFound) as err:
        remote(kfp_endpoint).get_run("no-such-run")
    assert err.value.status == 404
    assert "could not read run no-such-run: not found" in str(err.value)
    assert "/apis/v2beta1/runs/no-such-run" in str(err.value)


# -- failures ---------------------------------------------------------------------------------


def test_wrong_token_is_a_401_naming_where_the_token_came_from(kfp_endpoint, fake_kfp):
    conn = resolve_connection({"endpoint": kfp_endpoint}, namespace=None, endpoint_override=None,
                              env={"KF_PIPELINES_TOKEN": "expired-token-0123456789"},
                              base_dir=Path("."))
    with pytest.raises(RemoteError) as err:
        KfpRemote(conn).ensure_experiment("x")
    text = str(err.value)
    assert err.value.status == 401
    assert "rejected the credentials" in text and "KF_PIPELINES_TOKEN" in text
    assert "expired-token-0123456789" not in text


def test_no_credentials_at_all_says_how_to_provide_them(kfp_endpoint, fake_kfp):
    """Through Prism, Prism itself refuses (the spec requires an Authorization header)."""
    with pytest.raises(RemoteError) as err:
        remote(kfp_endpoint, token=None).ensure_experiment("x")
    assert err.value.status == 401
    assert "no credentials were sent" in (err.value.fix or "")


def test_forbidden_names_the_namespace_and_the_fix(kfp_endpoint, fake_kfp):
    fake_kfp.deny(403, "PermissionDenied: user is not authorized to list experiments")
    with pytest.raises(RemoteError) as err:
        remote(kfp_endpoint, namespace="team-a").ensure_experiment("x")
    text = str(err.value)
    assert err.value.status == 403
    assert "not allowed to" in text and "'team-a'" in text
    assert "user is not authorized to list experiments" in text
    assert "contributor" in (err.value.fix or "")


def test_server_error_shows_kfps_own_message(kfp_endpoint, fake_kfp, package):
    kfp = remote(kfp_endpoint)
    version = kfp.ensure_pipeline_version("demo", "v1", package)
    fake_kfp.deny(500, "Failed to create a run: InternalServerError: database is locked")
    with pytest.raises(RemoteError) as err:
        kfp.start_run(display_name="r", experiment_id="e", version=version, parameters={})
    assert err.value.status == 500
    assert "HTTP 500: Failed to create a run: InternalServerError: database is locked" in str(
        err.value)
    assert "start run 'r'" in str(err.value)


def test_closed_port_fails_fast_with_the_unreachable_message():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there any more
    began = time.monotonic()
    with pytest.raises(Unreachable) as err:
        remote(url).get_run("r1")
    assert time.monotonic() - began < 2
    assert str(err.value).startswith(f"Kubeflow Pipelines at {url} is unreachable: "
                                     "connection refused")
    assert "KF_PIPELINES_ENDPOINT" in (err.value.fix or "")
    assert err.value.status is None


def test_unresolvable_host_is_reported_as_such():
    with pytest.raises(Unreachable, match="cannot resolve host kfp.invalid"):
        remote("http://kfp.invalid", timeout=5).get_run("r1")


def test_a_server_that_never_answers_times_out_at_the_configured_timeout():
    """kfp_server_api ignores a float timeout; ours must still apply."""
    outcome: list[BaseException] = []

    def call(url: str) -> None:
        try:
            remote(url, timeout=0.5).get_run("r1")
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # connections complete in the kernel backlog; nothing ever answers
        caller = threading.Thread(target=call, args=(f"http://127.0.0.1:{silent.getsockname()[1]}",),
                                  daemon=True)
        caller.start()
        caller.join(timeout=5)  # without a working timeout the call would hang here
        assert not caller.is_alive(), "the request did not time out"
    assert len(outcome) == 1 and isinstance(outcome[0], Unreachable)
    assert "no answer within 0.5s" in str(outcome[0])


def test_redirect_to_a_login_page_is_reported_as_an_auth_problem(fake_kfp):
    """Direct only: Prism follows redirects itself."""
    fake_kfp.redirect_to_login()
    with pytest.raises(RemoteError) as err:
        remote(fake_kfp.url).ensure_experiment("x")
    assert err.value.status == 302
    assert "login page" in str(err.value) and "/login" in str(err.value)


def test_cookie_auth_is_sent_as_the_cookie_header():
    """Direct only: the spec declares bearer auth, so Prism refuses cookie-only requests."""
    cookie = "authservice_session=MTcwMDAwMDAwMHxzZXNzaW9u"
    with FakeKfp(cookie=cookie) as fake:
        assert remote(fake.url, token=None, cookie=cookie).ensure_experiment("x")
        with pytest.raises(RemoteError) as err:
            remote(fake.url, token=None, cookie="authservice_session=stale").ensure_experiment("x")
        assert err.value.status == 401
        assert fake.requests[0].headers["Cookie"] == "<redacted>"
        assert fake.contract_errors == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 500, 503])
def test_secrets_never_appear_in_error_text_even_when_the_server_echoes_them(status):
    cookie = "authservice_session=c00kie-value-5e6f7a8b"
    with FakeKfp(token=FAKE_TOKEN) as fake:
        fake.deny(status, f"bad request headers: Authorization: Bearer {FAKE_TOKEN}; "
                          f"Cookie: {cookie}")
        with pytest.raises(RemoteError) as err:
            remote(fake.url, cookie=cookie).get_run("r1")
    shown = f"{err.value}\n{err.value!r}\n{err.value.what}\n{err.value.fix}\n" + "\n".join(
        str(p) for p in err.value.problems)
    assert err.value.status == status
    assert FAKE_TOKEN not in shown and "c00kie-value-5e6f7a8b" not in shown
    assert "***" in shown


def test_secrets_never_appear_in_unreachable_errors():
    with pytest.raises(Unreachable) as err:
        remote(f"http://127.0.0.1:{free_port()}", cookie="session=abcdef12345").get_run("r1")
    assert FAKE_TOKEN not in repr(err.value) and "abcdef12345" not in repr(err.value)


def test_answer_that_is_not_the_kfp_api_is_reported(fake_kfp):
    """A 200 without the object's id (e.g. a proxy's own page) must not pass for success."""
    fake_kfp.tamper(lambda experiment: {}, "create_experiment")  # {} is a valid, empty object
    with pytest.raises(RemoteError, match="without experiment_id: it does not look like the "
                                          "Kubeflow Pipelines v2beta1 API"):
        remote(fake_kfp.url).ensure_experiment("x")


def test_constructing_a_remote_does_no_io_and_imports_no_kfp():
    code = textwrap.dedent("""
        import sys
        from kfops_action.kubeflow import KfpRemote, Connection, wait_for_run
        KfpRemote(Connection("http://127.0.0.1:1"))
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("kfp", "kfp_server_api"))
        print(loaded)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


# -- the fake's contract check ----------------------------------------------------------------


def test_fake_rejects_a_request_body_that_breaks_the_contract(fake_kfp):
    body = {"display_name": 42, "surprise": True, "state": "DONE",
            "runtime_config": {"parameters": {"a": 1}, "pipeline_root": ["not", "a", "string"]}}
    request = urllib.request.Request(
        f"{fake_kfp.url}/apis/v2beta1/runs", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {FAKE_TOKEN}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 400
    errors = "\n".join(fake_kfp.contract_errors)
    assert "request(create_run).display_name: expected str, got int" in errors
    assert "request(create_run).surprise: unknown field for V2beta1Run" in errors
    assert "'DONE' is not a valid V2beta1RuntimeState" in errors
    assert "request(create_run).runtime_config.pipeline_root: expected str" in errors
    fake_kfp.contract_errors.clear()  # seen; do not fail the fixture's teardown check


def test_fake_flags_its_own_response_when_it_breaks_the_contract(fake_kfp, package):
    kfp = remote(fake_kfp.url)
    _, _, run = start(kfp, package)
    fake_kfp.tamper(lambda r: dict(r, state="DONE", finished_at="yesterday", extra=1), "get_run")
    with pytest.raises(RemoteError, match="sent an answer kfops cannot read"):
        kfp.get_run(run.run_id)  # the generated client chokes on the date
    errors = "\n".join(fake_kfp.contract_errors)
    assert "response(get_run).state: 'DONE' is not a valid V2beta1RuntimeState" in errors
    assert "response(get_run).finished_at: 'yesterday' is not an RFC 3339 date-time" in errors
    assert "response(get_run).extra: unknown field for V2beta1Run" in errors
    fake_kfp.contract_errors.clear()


@pytest.mark.parametrize("data, model, expected", [
    ({"run_id": "r", "run_details": {"task_details": [{"state": "OK"}]}}, "V2beta1Run",
     "$.run_details.task_details[0].state: 'OK' is not a valid V2beta1RuntimeState"),
    ({"code": "5", "message": "x"}, "GoogleRpcStatus", "$.code: expected int, got str"),
    ({"pipeline_id": "p", "tags": {"a": 1}}, "V2beta1Pipeline", "$.tags.a: expected str"),
    ({"experiments": {}}, "V2beta1ListExperimentsResponse", "$.experiments: expected a list"),
    ({"predicates": [{"key": "name", "operation": "EQUAL"}]}, "V2beta1Filter",
     "'EQUAL' is not a valid V2beta1PredicateOperation"),
])
def test_contract_check_finds_what_the_generated_client_would_silently_accept(data, model,
                                                                             expected):
    assert any(expected in e for e in check_model(data, model))


def test_contract_check_accepts_a_real_kfp_run():
    run = {"run_id": "r", "display_name": "d", "state": "SUCCEEDED",
           "created_at": "2024-05-01T10:00:00Z", "finished_at": "1970-01-01T00:00:00Z",
           "storage_state": "AVAILABLE", "pipeline_spec": {"anything": [1, 2]},
           "runtime_config": {"parameters": {"a": 1, "b": [1], "c": {"d": None}}},
           "run_details": {"task_details": [{"task_id": "t", "display_name": "train",
                                             "state": "FAILED", "execution_id": "12",
                                             "error": {"code": 2, "message": "boom",
                                                       "details": [{"@type": "x/y"}]}}]}}
    assert check_model(run, "V2beta1Run") == []


def test_status_terminal_and_succeeded_follow_kfp_states():
    def status(state: str) -> RunStatus:
        return RunStatus("r", state, None, None, None)

    assert {s for s in ("PENDING", "RUNNING", "SUCCEEDED", "SKIPPED", "FAILED", "CANCELING",
                        "CANCELED", "PAUSED", "RUNTIME_STATE_UNSPECIFIED")
            if status(s).terminal} == {"SUCCEEDED", "SKIPPED", "FAILED", "CANCELING", "CANCELED"}
    assert [s for s in ("SUCCEEDED", "SKIPPED", "FAILED", "CANCELED")
            if status(s).succeeded] == ["SUCCEEDED", "SKIPPED"]


# -- Prism's leg is not a no-op -----------------------------------------------------------------


@pytest.mark.infra
def test_prism_rejects_a_response_that_breaks_kfps_spec(prism_proxy, fake_kfp, package):
    kfp = remote(prism_proxy.url)
    _, _, run = start(kfp, package)
    fake_kfp.tamper(lambda r: dict(r, state="DONE"), "get_run")
    with pytest.raises(RemoteError) as err:
        kfp.get_run(run.run_id)
    assert err.value.status == 500
    assert "state must be equal to one of the allowed values" in str(err.value)
    fake_kfp.contract_errors.clear()  # the fake flagged it too; seen


@pytest.mark.infra
def test_prism_rejects_a_request_that_breaks_kfps_spec(prism_proxy, fake_kfp):
    request = urllib.request.Request(
        f"{prism_proxy.url}/apis/v2beta1/experiments", method="POST",
        data=json.dumps({"display_name": 42}).encode(),
        headers={"Authorization": f"Bearer {FAKE_TOKEN}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 422
    assert "display_name must be string" in err.value.read().decode()
    assert fake_kfp.requests == []  # never forwarded
