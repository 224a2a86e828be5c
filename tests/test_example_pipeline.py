"""The quickstart example, checked the way a user would: real KFP compiler, real local runner.

No mocks: the pipeline is compiled with ``kfp.compiler`` and run with
``kfp.local.SubprocessRunner(use_venv=False)`` (offline, in this venv), and the KServe template's
embedded model server is started for real against the model the run produced. If KFP changes what
it writes, or the example drifts from the config schema, these tests are the first to say so.

Three local runs (~3 s each) are shared through module-scoped fixtures to stay well under 30 s.
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import jsonschema
import pytest
import yaml
from kfp import compiler, local
from kfp.local import config as local_config

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = REPO_ROOT / "examples" / "quickstart"
SCHEMA_PATH = REPO_ROOT / "kfops_action" / "config" / "schema.json"

EXPECTED_PARAMETERS = {
    "n_samples": ("NUMBER_INTEGER", 600),
    "seed": ("NUMBER_INTEGER", 7),
    "learning_rate": ("NUMBER_DOUBLE", 0.1),
    "epochs": ("NUMBER_INTEGER", 200),
    "test_fraction": ("NUMBER_DOUBLE", 0.25),
}
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


# --------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def pipeline_module() -> ModuleType:
    """Import examples/quickstart/pipeline.py by path, as kfc does (it is not a package)."""
    spec = importlib.util.spec_from_file_location("quickstart_pipeline", QUICKSTART / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compiled_ir(pipeline_module: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The pipeline compiled to KFP IR YAML and parsed back."""
    package = tmp_path_factory.mktemp("build") / "pipeline.yaml"
    compiler.Compiler().compile(pipeline_func=pipeline_module.training_pipeline, package_path=str(package))
    return yaml.safe_load(package.read_text())


@dataclass(frozen=True)
class LocalRun:
    """What a local run left behind, read from the pipeline root like a user would."""

    run_dir: Path
    model_path: Path
    model: dict[str, Any]
    metrics: dict[str, float]
    accuracy_output: float


@pytest.fixture(scope="module")
def run_locally(
    pipeline_module: ModuleType, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., LocalRun]]:
    """Run the pipeline with KFP's local runner, each run in its own pipeline root; memoized per arguments."""
    runs: dict[tuple[tuple[str, Any], ...], LocalRun] = {}

    def run(**arguments: Any) -> LocalRun:
        key = tuple(sorted(arguments.items()))
        if key in runs:
            return runs[key]
        root = tmp_path_factory.mktemp("pipeline-root")
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
        task = pipeline_module.training_pipeline(**arguments)  # raises if any task fails

        model_artifact = task.output  # the pipeline's declared output: the trained Model
        model_path = Path(model_artifact.path)
        (run_dir,) = [p for p in root.iterdir() if p.name.startswith("quickstart-classifier-")]
        executor_output = json.loads((run_dir / "evaluate" / "executor_output.json").read_text())
        metrics = executor_output["artifacts"]["metrics"]["artifacts"][0]["metadata"]
        result = LocalRun(
            run_dir=run_dir,
            model_path=model_path,
            model=json.loads(model_path.read_text()),
            metrics=metrics,
            accuracy_output=executor_output["parameterValues"]["Output"],
        )
        runs[key] = result
        return result

    yield run
    # kfp.local keeps a process-wide singleton: leave the process as we found it for other tests.
    local_config.LocalExecutionConfig.instance = None


@pytest.fixture(scope="module")
def default_run(run_locally: Callable[..., LocalRun]) -> LocalRun:
    return run_locally()


@pytest.fixture(scope="module")
def kfops_config() -> dict[str, Any]:
    return yaml.safe_load((QUICKSTART / "kfops.yaml").read_text())


# --------------------------------------------------------------------------------------------------
# Compilation


def test_ir_declares_the_five_parameters_with_types_and_defaults(compiled_ir: dict[str, Any]) -> None:
    assert compiled_ir["pipelineInfo"]["name"] == "quickstart-classifier"
    declared = compiled_ir["root"]["inputDefinitions"]["parameters"]
    assert set(declared) == set(EXPECTED_PARAMETERS)
    for name, (parameter_type, default) in EXPECTED_PARAMETERS.items():
        assert declared[name]["parameterType"] == parameter_type, name
        assert declared[name]["defaultValue"] == pytest.approx(default), name
        assert declared[name].get("isOptional") is True, name


def test_ir_outputs_the_model_and_runs_three_steps_in_the_base_image(compiled_ir: dict[str, Any]) -> None:
    outputs = compiled_ir["root"]["outputDefinitions"]["artifacts"]
    assert outputs["Output"]["artifactType"]["schemaTitle"] == "system.Model"
    assert set(compiled_ir["root"]["dag"]["tasks"]) == {"make-dataset", "train", "evaluate"}
    executors = compiled_ir["deploymentSpec"]["executors"].values()
    assert {e["container"]["image"] for e in executors} == {"python:3.11-slim"}
    # Standard library only: nothing but the KFP runtime itself may be pip-installed.
    for executor in executors:
        script = " ".join(executor["container"]["command"])
        installs = re.findall(r"pip install [^&]*", script)
        assert all("kfp==" in line and "numpy" not in line for line in installs), installs


# --------------------------------------------------------------------------------------------------
# Local run


def test_local_run_writes_a_valid_model(default_run: LocalRun) -> None:
    assert default_run.model_path.is_file()
    assert default_run.model_path.is_relative_to(default_run.run_dir)
    model = default_run.model
    assert model["framework"] == "kfops-quickstart-logreg"
    assert len(model["feature_names"]) == 4
    assert len(model["weights"]) == len(model["feature_names"])
    assert len(model["standardization"]["mean"]) == len(model["standardization"]["std"]) == 4
    assert isinstance(model["bias"], float)
    assert model["training"]["epochs"] == 200
    assert model["training"]["learning_rate"] == pytest.approx(0.1)
    # The data sets the model came from are next to it, as CSV with a header.
    train_csv = (default_run.run_dir / "make-dataset" / "train_data").read_text().splitlines()
    test_csv = (default_run.run_dir / "make-dataset" / "test_data").read_text().splitlines()
    assert train_csv[0].split(",") == model["feature_names"] + ["label"]
    assert (len(train_csv) - 1, len(test_csv) - 1) == (450, 150)


def test_local_run_metrics_are_good_on_separable_data(default_run: LocalRun) -> None:
    metrics = default_run.metrics
    assert {"accuracy", "precision", "recall", "f1", "log_loss"} <= set(metrics)
    assert metrics["accuracy"] > 0.85
    assert metrics["f1"] > 0.85
    assert 0 < metrics["log_loss"] < 0.4
    assert default_run.accuracy_output == pytest.approx(metrics["accuracy"], abs=1e-6)


def test_same_seed_gives_same_metrics_and_model(
    default_run: LocalRun, run_locally: Callable[..., LocalRun]
) -> None:
    again = run_locally(seed=7, learning_rate=0.1, epochs=200)  # explicit defaults: a separate run
    assert again.run_dir != default_run.run_dir
    assert again.metrics == default_run.metrics
    assert again.model["weights"] == default_run.model["weights"]


def test_other_hyperparameters_change_the_metrics(
    default_run: LocalRun, run_locally: Callable[..., LocalRun]
) -> None:
    short = run_locally(learning_rate=0.02, epochs=20)
    assert short.model["training"]["epochs"] == 20
    assert short.model["weights"] != default_run.model["weights"]
    assert short.metrics != default_run.metrics
    # Fewer, smaller steps: the model is less confident, so its log loss is clearly worse.
    assert short.metrics["log_loss"] > default_run.metrics["log_loss"] + 0.1


def test_bad_parameter_fails_the_run_at_the_right_step(
    default_run: LocalRun, pipeline_module: ModuleType, tmp_path: Path
) -> None:
    """A nonsensical parameter stops the run in the step that checks it, and says which step."""
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    with pytest.raises(RuntimeError, match="make-dataset"):
        pipeline_module.training_pipeline(test_fraction=1.5)
    assert not list(tmp_path.glob("*/train"))  # nothing downstream ran


# --------------------------------------------------------------------------------------------------
# Config, template and sample request


def test_kfops_yaml_validates_against_the_schema(kfops_config: dict[str, Any]) -> None:
    first_line = (QUICKSTART / "kfops.yaml").read_text().splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=../../kfops_action/config/schema.json"
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(kfops_config)


def test_kfops_yaml_points_at_real_files_and_parameters(
    kfops_config: dict[str, Any], pipeline_module: ModuleType, compiled_ir: dict[str, Any]
) -> None:
    pipeline = kfops_config["pipeline"]
    assert (QUICKSTART / pipeline["file"]).is_file()
    assert callable(getattr(pipeline_module, pipeline["function"]))
    assert pipeline["name"] == compiled_ir["pipelineInfo"]["name"]
    assert set(pipeline["parameters"]) <= set(compiled_ir["root"]["inputDefinitions"]["parameters"])
    for environment in kfops_config["deployment"].values():
        assert (QUICKSTART / environment["template"]).is_file()
        assert (QUICKSTART / environment["endpoint_check"]["sample"]).is_file()


def _render(template: str, values: dict[str, Any]) -> str:
    """Plain text substitution of ``{{ key }}``, the contract the template is written for."""
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), template)


def test_inference_service_template_renders_to_a_kserve_resource() -> None:
    template = (QUICKSTART / "inference-service.yaml").read_text()
    assert set(PLACEHOLDER.findall(template)) == {"name", "namespace", "model_uri", "canary_percent"}
    values = {"name": "quickstart-classifier", "namespace": "ml-production",
              "model_uri": "s3://mlpipeline/v2/artifacts/quickstart/train/model", "canary_percent": 10}
    resource = yaml.safe_load(_render(template, values))
    assert resource["apiVersion"] == "serving.kserve.io/v1beta1"
    assert resource["kind"] == "InferenceService"
    assert (resource["metadata"]["name"], resource["metadata"]["namespace"]) == ("quickstart-classifier", "ml-production")
    predictor = resource["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10  # an integer, as the CRD requires
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container"  # the storage initializer only mounts into this one
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["STORAGE_URI"] == values["model_uri"]


def test_sample_request_matches_the_model_features(default_run: LocalRun) -> None:
    sample = json.loads((QUICKSTART / "sample-request.json").read_text())
    assert sample["instances"], "the sample request must hold at least one instance"
    for instance in sample["instances"]:
        assert len(instance) == len(default_run.model["feature_names"])
        assert all(isinstance(value, (int, float)) for value in instance)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http(method: str, url: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_template_model_server_answers_the_sample_request(default_run: LocalRun, tmp_path: Path) -> None:
    """Start the predictor the template describes, on the trained model, and send the endpoint check."""
    values = {"name": "quickstart-classifier", "namespace": "ml-staging",
              "model_uri": "s3://unused", "canary_percent": 100}
    resource = yaml.safe_load(_render((QUICKSTART / "inference-service.yaml").read_text(), values))
    container = resource["spec"]["predictor"]["containers"][0]
    assert container["command"][0] == "python"
    # Lay the model out like KServe's storage initializer does: the downloaded file under MODEL_DIR.
    model_dir = tmp_path / "mnt-models"
    model_dir.mkdir()
    (model_dir / "model").write_bytes(default_run.model_path.read_bytes())
    port = _free_port()
    env = {item["name"]: item["value"] for item in container["env"]}
    env.update({"MODEL_DIR": str(model_dir), "PORT": str(port)})
    server = subprocess.Popen([sys.executable, *container["command"][1:], *container["args"]],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/v1/models/{values['name']}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                status, body = _http("GET", base)
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"model server did not start: {server.stderr.read().decode()}")
                time.sleep(0.05)
        assert (status, body) == (200, {"name": values["name"], "ready": True})

        sample = (QUICKSTART / "sample-request.json").read_bytes()
        expected_status = yaml.safe_load((QUICKSTART / "kfops.yaml").read_text())[
            "deployment"]["staging"]["endpoint_check"]["expected_status"]
        status, body = _http("POST", base + ":predict", sample)
        assert status == expected_status
        assert body == {"predictions": [0, 1]}  # a healthy machine, then one about to fail

        status, body = _http("POST", base + ":predict", b'{"instances": [[1, 2]]}')
        assert status == 400 and "4 numbers" in body["error"]
        status, _ = _http("POST", f"http://127.0.0.1:{port}/v1/models/other:predict", sample)
        assert status == 404
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()
