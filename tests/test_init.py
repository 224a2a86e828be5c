"""`kfc init` and `kfc init --from-kfops`, as a new user runs them: a subprocess in a fresh repository.

The promise tested end to end: `kfc init` in an empty git repository, then `kfc build-run --local`
works on what it produced. Around it: nothing is ever overwritten without --force, the generated
kfops.yaml is valid, the workflows are the repository's own (packaged copies kept equal here) and
pass actionlint, and a conversion of the original Kfops layout says what it could not map.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLE, ROOT, kfc
from kfops_action.config import load_config
from kfops_action.onboarding import nextsteps, rbac, scaffold
from kfops_action.onboarding.answers import PLACEHOLDER_ENDPOINT, gather
from kfops_action.onboarding.detect import find_pipelines, kubernetes_name
from kfops_action.onboarding.from_kfops import render_function_as_template
from kfops_action.onboarding.init import make_asker

TEMPLATES = ROOT / "kfops_action" / "onboarding" / "templates"
PIPELINE = '''from kfp import dsl
from kfp.dsl import Model, Output


@dsl.component(base_image="python:3.11-slim")
def fit(x: int, model: Output[Model]):
    open(model.path, "w").write(str(x * x))


@dsl.pipeline(name="{name}")
def {function}(x: int = 3):
    fit(x=x)
'''
NO_MODEL_PIPELINE = '''from kfp import dsl
from kfp.dsl import Dataset, Output


@dsl.component(base_image="python:3.11-slim")
def square(x: int) -> int:
    return x * x


@dsl.component(base_image="python:3.11-slim")
def report(x: int, table: Output[Dataset]):
    open(table.path, "w").write(str(x))


@dsl.pipeline(name="{name}")
def {function}(x: int = 3):
    report(x=square(x=x).output)
'''


def git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def args(**kw: object) -> argparse.Namespace:
    defaults = dict(dir=Path("."), from_kfops=False, force=False, skip_existing=False, yes=True, dry_run=False,
                    pipeline=None, name=None, endpoint=None, namespace=None, auth=None, builder=None, registry=None,
                    build_namespace=None, production_namespace=None, staging_namespace=None, no_deploy=False)
    defaults.update(kw)
    return argparse.Namespace(**defaults)


# -- the packaged templates are the repository's own files -------------------------------------------


@pytest.mark.parametrize("packaged, source", [
    ("kfops.yml", "workflows/kfops.yml"),
    ("kfops-followup.yml", "workflows/kfops-followup.yml"),
    ("quickstart/pipeline.py.txt", "examples/quickstart/pipeline.py"),
    ("quickstart/inference-service.yaml", "examples/quickstart/inference-service.yaml"),
    ("quickstart/sample-request.json", "examples/quickstart/sample-request.json"),
])
def test_packaged_templates_equal_the_repository_files(packaged: str, source: str) -> None:
    """kfc init ships copies (a wheel cannot reach workflows/ or examples/); they must not drift."""
    assert (TEMPLATES / packaged).read_text() == (ROOT / source).read_text(), (
        f"copy {source} to kfops_action/onboarding/templates/{packaged}")


# -- a new user, a fresh repository ------------------------------------------------------------------


def test_init_in_an_empty_repository_then_build_run_local_works(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "churn-model")
    result = kfc("init", cwd=repo)  # stdin is not a terminal: nothing is asked
    assert result.returncode == 0, result.stdout + result.stderr
    for path in ("kfops.yaml", "kfops.schema.json", ".github/workflows/kfops.yml",
                 ".github/workflows/kfops-followup.yml", "pipeline.py", "deploy/inference-service.yaml",
                 "deploy/sample-request.json", "deploy/kfops-cluster.yaml"):
        assert (repo / path).is_file(), path
        assert f"wrote    {path}" in result.stdout
    assert ".kfops/" in (repo / ".gitignore").read_text()
    out = result.stdout
    assert "KFOPS_KUBEFLOW_TOKEN" in out and "KFOPS_KUBECONFIG" in out
    # no Dockerfile, so no Kaniko builds: the only kubeconfig is the deploy one, in the Environments
    assert "KFOPS_BUILD_KUBECONFIG" not in out
    assert "Create the GitHub Environments production and staging (Settings > Environments)" in out
    assert "Add required reviewers to production" in out
    assert "kubectl apply -f deploy/kfops-cluster.yaml" in out and "kfc build-run --local" in out
    assert "kfops.yaml: kubeflow.endpoint" in out  # the placeholder is named as something to edit
    config = load_config(repo / "kfops.yaml")
    assert config.pipeline.name == "churn-model" and config.pipeline.function == "training_pipeline"
    assert config.data["kubeflow"]["endpoint"] == PLACEHOLDER_ENDPOINT
    assert (repo / "kfops.yaml").read_text().startswith("# yaml-language-server: $schema=kfops.schema.json")

    run = kfc("build-run", "--local", cwd=repo, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "accuracy" in run.stdout


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "model")
    assert kfc("init", cwd=repo).returncode == 0
    (repo / "kfops.yaml").write_text("# mine\n" + (repo / "kfops.yaml").read_text())
    (repo / "deploy" / "sample-request.json").unlink()

    again = kfc("init", cwd=repo)
    assert again.returncode == 2
    assert "wrote nothing" in again.stdout and "  kfops.yaml" in again.stdout and "--force" in again.stdout
    assert (repo / "kfops.yaml").read_text().startswith("# mine")
    assert not (repo / "deploy" / "sample-request.json").exists()  # all or nothing

    partial = kfc("init", "--skip-existing", cwd=repo)
    assert partial.returncode == 0, partial.stdout + partial.stderr
    assert "kept     kfops.yaml (exists)" in partial.stdout
    assert "wrote    deploy/sample-request.json" in partial.stdout
    assert (repo / "kfops.yaml").read_text().startswith("# mine")

    forced = kfc("init", "--force", cwd=repo)
    assert forced.returncode == 0 and not (repo / "kfops.yaml").read_text().startswith("# mine")
    assert (repo / ".gitignore").read_text().count(".kfops/") == 1


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "model")
    result = kfc("init", "--dry-run", cwd=repo)
    assert result.returncode == 0 and "would write kfops.yaml" in result.stdout
    assert sorted(p.name for p in repo.iterdir()) == [".git"]


def test_existing_pipeline_is_found_and_kept(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "Fraud_Model")
    (repo / "src").mkdir()
    (repo / "src" / "flow.py").write_text(PIPELINE.format(name="fraud", function="fraud_pipeline"))
    (repo / "docker" / "trainer").mkdir(parents=True)
    (repo / "docker" / "trainer" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    result = kfc("init", "--endpoint", "http://kfp.example.test/pipeline", "--namespace", "team-a",
                 "--registry", "registry.example.test/acme", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (repo / "pipeline.py").exists()  # the repository's own pipeline, not the quickstart
    config = load_config(repo / "kfops.yaml")
    assert (config.pipeline.file, config.pipeline.function) == (repo / "src" / "flow.py", "fraud_pipeline")
    assert config.pipeline.name == "fraud-model" and config.pipeline.namespace == "team-a"
    images = config.section("images")
    assert images["builder"] == "kaniko" and images["build"] == [{"name": "trainer", "context": "docker/trainer"}]
    assert "service_account" not in images["kaniko"]  # build pods never run as kfops' own account
    assert "modelFormat" in (repo / "deploy" / "inference-service.yaml").read_text()
    assert "deploy/sample-request.json: a real request body" in result.stdout
    assert "kfops.yaml: kubeflow.endpoint" not in result.stdout
    cluster = list(yaml.safe_load_all((repo / "deploy" / "kfops-cluster.yaml").read_text()))
    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]): d["rules"] for d in cluster if d["kind"] == "Role"}
    assert roles[("kfops-builds", rbac.BUILD_ROLE)] == [r.policy_rule() for r in rbac.BUILD_RULES]
    assert roles[("ml-production", rbac.DEPLOY_ROLE)] == [r.policy_rule() for r in rbac.DEPLOY_RULES]
    bound = {(d["metadata"]["namespace"], d["roleRef"]["name"]): d["subjects"] for d in cluster
             if d["kind"] == "RoleBinding"}
    assert bound == {
        ("kfops-builds", rbac.BUILD_ROLE): [{"kind": "ServiceAccount", "name": "kfops-build", "namespace": "kfops-builds"}],
        ("ml-production", rbac.DEPLOY_ROLE): [{"kind": "ServiceAccount", "name": "kfops", "namespace": "ml-production"}],
        ("ml-staging", rbac.DEPLOY_ROLE): [{"kind": "ServiceAccount", "name": "kfops", "namespace": "ml-production"}]}
    secrets_step, environments_step = result.stdout.split("\n\n2. ")[0], result.stdout.split("\n\n2. ")[1]
    assert "KFOPS_BUILD_KUBECONFIG: a kubeconfig for the `kfops-build` service account" in secrets_step
    assert "KFOPS_KUBECONFIG" not in secrets_step
    assert environments_step.startswith("Create the GitHub Environments production and staging")
    assert "KFOPS_KUBECONFIG: a kubeconfig for the `kfops` service account" in environments_step.split("\n\n")[0]
    compiled = kfc("validate", cwd=repo)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr


def test_several_pipelines_need_a_choice_without_a_terminal(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "model")
    (repo / "a.py").write_text(PIPELINE.format(name="a", function="first"))
    (repo / "b.py").write_text(PIPELINE.format(name="b", function="second"))
    result = kfc("init", cwd=repo)
    assert result.returncode == 2
    assert "a.py:first" in result.stderr and "b.py:second" in result.stderr and "--pipeline" in result.stderr
    chosen = kfc("init", "--pipeline", "b.py:second", "--no-deploy", cwd=repo)
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    config = load_config(repo / "kfops.yaml")
    assert config.pipeline.function == "second" and "deployment" not in config.data
    assert not (repo / "deploy").exists() and "KFOPS_KUBECONFIG" not in chosen.stdout


def test_no_deployment_section_for_a_pipeline_without_a_model_output(tmp_path: Path) -> None:
    """Nothing /deploy could deploy: no deployment section, and the next steps say how to add one
    later; following them (a model output, the printed section, --skip-existing) gives a setup
    whose deployment `kfc doctor` accepts."""
    repo = git_repo(tmp_path / "reports")
    (repo / "flow.py").write_text(NO_MODEL_PIPELINE.format(name="reports", function="report_pipeline"))
    result = kfc("init", "--endpoint", "http://kfp.example.test/pipeline", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deployment" not in load_config(repo / "kfops.yaml").data
    assert not (repo / "deploy").exists()  # no template, no sample, no cluster identity to create
    out = result.stdout
    assert "KFOPS_KUBECONFIG" not in out and "GitHub Environment" not in out
    assert "No deployment section was written: flow.py:report_pipeline outputs no model" in out
    assert "report/table (system.Dataset)" in out and "Output[Model]" in out
    section = out.split("- add this section to kfops.yaml (namespaces to taste):\n")[1].split("\n   - ")[0]
    assert section.startswith("     deployment:\n       production:\n")

    (repo / "flow.py").write_text(PIPELINE.format(name="reports", function="report_pipeline"))
    with (repo / "kfops.yaml").open("a") as config:
        config.write("\n" + "\n".join(line[5:] for line in section.splitlines()) + "\n")
    later = kfc("init", "--skip-existing", "--endpoint", "http://kfp.example.test/pipeline", cwd=repo)
    assert later.returncode == 0, later.stdout + later.stderr
    assert "kept     kfops.yaml (exists)" in later.stdout and "wrote    deploy/inference-service.yaml" in later.stdout
    assert "No deployment section" not in later.stdout
    doctor = kfc("doctor", "--only", "model", "--only", "template", cwd=repo)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "ok    model       production: /deploy deploys fit/model (system.Model)" in doctor.stdout


def test_two_model_outputs_keep_the_deployment_section_and_ask_to_choose(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "model")
    (repo / "flow.py").write_text(PIPELINE.format(name="m", function="flow").replace(
        "    fit(x=x)\n", "    fit(x=x)\n    fit(x=5)\n"))
    answers = gather(args(), repo, {}, make_asker(io.StringIO(), io.StringIO(), False), interactive=False)
    assert answers.deploys and answers.model is not None
    assert [str(m) for m in answers.model.models] == ["fit/model (system.Model)", "fit-2/model (system.Model)"]
    text = nextsteps.render(answers)
    assert "Choose the model: flow.py:flow has 2 model outputs" in text and "deployment.production.model" in text


def test_a_pipeline_that_does_not_compile_here_keeps_its_deployment_section(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "model")
    (repo / "flow.py").write_text("import not_installed_here  # noqa\n"
                                  + PIPELINE.format(name="m", function="flow"))
    result = kfc("init", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deployment" in load_config(repo / "kfops.yaml").data
    assert "Check the model output: flow.py:flow did not compile here" in result.stdout
    assert "not_installed_here" in result.stdout and "`kfc doctor` checks it" in result.stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_interactive_questions_only_for_what_cannot_be_inferred(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "model")
    (repo / "a.py").write_text(PIPELINE.format(name="a", function="first"))
    (repo / "b.py").write_text(PIPELINE.format(name="b", function="second"))
    answers_in = _Terminal("2\nhttps://kfp.example.test/pipeline\nteam-b\n\nstage\n")
    out = io.StringIO()
    ask = make_asker(answers_in, out, interactive=True)
    answers = gather(args(yes=False), repo, {}, ask, interactive=True)
    assert answers.pipeline is not None and answers.pipeline.spec == "b.py:second"
    assert answers.endpoint == "https://kfp.example.test/pipeline" and answers.namespace == "team-b"
    assert (answers.production_namespace, answers.staging_namespace) == ("ml-production", "stage")
    assert answers.builder == "none"  # no Dockerfile: not asked
    asked = out.getvalue()
    assert "Which pipeline" in asked and "Image builder" not in asked and "registry" not in asked
    # the environment answers the endpoint question
    quiet = io.StringIO()
    gather(args(yes=False), repo, {"KF_PIPELINES_ENDPOINT": "http://from-env/pipeline"},
           make_asker(_Terminal("1\n\n\n\n"), quiet, interactive=True), interactive=True)
    assert "Kubeflow Pipelines API URL" not in quiet.getvalue()


def test_cookie_auth_and_docker_builder_shape_the_workflows(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "model")
    (repo / "Dockerfile").write_text("FROM python:3.11-slim\n")
    result = kfc("init", "--auth", "cookie", "--builder", "docker", "--registry", "registry.example.test/acme/model",
                 "--no-deploy", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    workflow = (repo / ".github" / "workflows" / "kfops.yml").read_text()
    assert "kubeflow-cookie: ${{ secrets.KFOPS_KUBEFLOW_COOKIE }}" in workflow
    assert "KFOPS_KUBEFLOW_TOKEN" not in workflow
    assert "registry: registry.example.test" in workflow and "\n          registry-password:" in workflow
    assert "KFOPS_KUBEFLOW_COOKIE" in result.stdout and "KFOPS_RUNTIME=python" in result.stdout
    config = load_config(repo / "kfops.yaml")
    assert config.data["kubeflow"]["auth"] == {"type": "cookie", "cookie_env": "KF_PIPELINES_COOKIE"}
    assert config.section("images")["build"] == [{"name": "model", "context": "."}]
    actionlint = Path(sys.executable).parent / "actionlint"
    shellcheck = Path(sys.executable).parent / "shellcheck"
    if actionlint.is_file() and shellcheck.is_file():
        done = subprocess.run([str(actionlint), "-oneline", f"-shellcheck={shellcheck}", "-pyflakes=",
                               *map(str, sorted((repo / ".github" / "workflows").glob("*.yml")))],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


def test_generated_config_is_valid_for_every_combination(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "model")
    for auth in ("token", "cookie", "none"):
        for builder in ("none", "docker", "kaniko"):
            for deploy in (True, False):
                answers = gather(args(auth=auth, builder=builder, no_deploy=not deploy, registry="r.example.test/x"),
                                 repo, {}, make_asker(io.StringIO(), io.StringIO(), False), interactive=False)
                text = scaffold.kfops_yaml(answers)
                path = repo / "kfops.yaml"
                path.write_text(text)
                load_config(path)  # raises on any schema error


@pytest.mark.parametrize("builder, deploy", [("kaniko", True), ("kaniko", False), ("docker", True), ("none", True)])
def test_one_identity_per_job_and_one_secret_per_identity(tmp_path: Path, builder: str, deploy: bool) -> None:
    """The pipeline job handles pull-request code: it gets only the build identity, never the deploy one."""
    answers = gather(args(builder=builder, no_deploy=not deploy, registry="r.example.test/x"), git_repo(tmp_path / "m"),
                     {}, make_asker(io.StringIO(), io.StringIO(), False), interactive=False)
    docs = list(yaml.safe_load_all(scaffold.cluster_manifest(answers)))
    accounts = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs if d["kind"] == "ServiceAccount"}
    tokens = {(d["metadata"]["namespace"], d["metadata"]["annotations"]["kubernetes.io/service-account.name"])
              for d in docs if d["kind"] == "Secret"}
    roles_of = {}
    for d in docs:
        if d["kind"] == "RoleBinding":
            [subject] = d["subjects"]
            roles_of.setdefault(subject["name"], set()).add(d["roleRef"]["name"])
    expected = ({("kfops-builds", "kfops-build")} if builder == "kaniko" else set()) | (
        {("ml-production", "kfops")} if deploy else set())
    assert accounts == tokens == expected
    assert roles_of == ({"kfops-build": {rbac.BUILD_ROLE}} if builder == "kaniko" else {}) | (
        {"kfops": {rbac.DEPLOY_ROLE}} if deploy else {})
    header = " ".join(scaffold.cluster_manifest(answers).split("\n---\n")[0].replace("#", " ").split())
    assert ("repository secret KFOPS_BUILD_KUBECONFIG" in header) == (builder == "kaniko")
    assert ("KFOPS_KUBECONFIG, an environment secret of the GitHub Environments production and staging"
            in header) == deploy
    assert not any(s.startswith("KFOPS_KUBECONFIG") for s in nextsteps.secrets(answers))  # never a repository secret
    assert any("KFOPS_BUILD_KUBECONFIG" in s for s in nextsteps.secrets(answers)) == (builder == "kaniko")
    assert [s.split(":")[0] for s in nextsteps.environment_secrets(answers)] == (["KFOPS_KUBECONFIG"] if deploy else [])
    assert ("GitHub Environments" in nextsteps.render(answers)) == deploy


def test_helpers() -> None:
    assert kubernetes_name("My_Model v2") == "my-model-v2"
    assert kubernetes_name("2024-model") == "m-2024-model"
    assert kubernetes_name("___") == "model"
    assert [p.spec for p in find_pipelines(EXAMPLE)] == ["pipeline.py:training_pipeline"]


# -- the original Kfops layout ------------------------------------------------------------------------

ORIGINAL_CONFIG = """\
repository:
  owner: acme
  name: iris
pipeline:
  name: Sklearn Iris
  description: Example pipeline to show how to configure your project
  namespace: team-a
  experiment_name: My amazing experiment
  pipeline_path: my_pipeline/pipeline.py
  pipeline_execution_mode: V2_COMPATIBLE
  pipeline_args:
    x: 5
    version_id: ''
deployment:
  inference_service_name: sklearn-iris
  inference_service_function_path: config_files/deployment.py
  pre_deployment_test_sample_input_path: test_deployment/input.json
  production:
    namespace: prod
  staging:
    namespace: staging
image_builder:
  container_registry_uri: my-registry
  insecure: true
  images:
    - name: my_image_name
      dockerfile_folder_path: containers/my_image_name
      other_folders_path:
        - containers/lib
"""

ORIGINAL_KANIKO = """\
apiVersion: v1
kind: Pod
metadata:
  generateName: cluster-image-builder-
spec:
  serviceAccountName: image-builder
  nodeSelector: {pool: builds}
  containers:
  - name: cluster-image-builder
    image: gcr.io/kaniko-project/executor:v1.9.1
    resources: {limits: {cpu: "2", memory: 4Gi}}
    volumeMounts:
    - {name: docker-config, mountPath: /kaniko/.docker}
  restartPolicy: Never
  volumes:
  - name: docker-config
    secret: {secretName: regcred}
"""

# KServe SDK objects are plain generated models (attribute_map + openapi_types); these stand-ins have
# the same shape, so the conversion is tested without installing kserve.
ORIGINAL_DEPLOYMENT = """\
class _Model:
    def __init__(self, **values):
        for attr in self.openapi_types:
            setattr(self, attr, values.get(attr))


class V1ObjectMeta(_Model):
    openapi_types = {"name": "str", "namespace": "str"}
    attribute_map = {"name": "name", "namespace": "namespace"}


class V1beta1SKLearnSpec(_Model):
    openapi_types = {"storage_uri": "str"}
    attribute_map = {"storage_uri": "storageUri"}


class V1beta1PredictorSpec(_Model):
    openapi_types = {"service_account_name": "str", "canary_traffic_percent": "int", "sklearn": "V1beta1SKLearnSpec"}
    attribute_map = {"service_account_name": "serviceAccountName",
                     "canary_traffic_percent": "canaryTrafficPercent", "sklearn": "sklearn"}


class V1beta1InferenceServiceSpec(_Model):
    openapi_types = {"predictor": "V1beta1PredictorSpec"}
    attribute_map = {"predictor": "predictor"}


class V1beta1InferenceService(_Model):
    openapi_types = {"api_version": "str", "kind": "str", "metadata": "V1ObjectMeta",
                     "spec": "V1beta1InferenceServiceSpec"}
    attribute_map = {"api_version": "apiVersion", "kind": "kind", "metadata": "metadata", "spec": "spec"}


def inference_service_instance(name, storage_uri, namespace="default", canary_traffic_percent=None):
    return V1beta1InferenceService(
        api_version="serving.kserve.io/v1beta1", kind="InferenceService",
        metadata=V1ObjectMeta(name=name, namespace=namespace),
        spec=V1beta1InferenceServiceSpec(predictor=V1beta1PredictorSpec(
            service_account_name="deployer", canary_traffic_percent=canary_traffic_percent,
            sklearn=V1beta1SKLearnSpec(storage_uri=storage_uri))))
"""

ORIGINAL_PIPELINE = """\
from kfp import dsl
from kfops.model import materialize_model  # noqa: F401  (the original's helper, kfp 1.x)


@dsl.component(base_image="python:3.11-slim")
def square(x: int) -> int:
    return x * x


@dsl.pipeline(name="iris")
def iris_pipeline(x: int = 3, version_id: str = ""):
    square(x=x)
"""


@pytest.fixture
def original(tmp_path: Path) -> Path:
    """An original Kfops repository, laid out as its documentation prescribes."""
    repo = git_repo(tmp_path / "iris")
    files = {"config_files/config.yaml": ORIGINAL_CONFIG, "config_files/kaniko-manifest.yaml": ORIGINAL_KANIKO,
             "config_files/deployment.py": ORIGINAL_DEPLOYMENT, "my_pipeline/pipeline.py": ORIGINAL_PIPELINE,
             "test_deployment/input.json": '{"instances": [[6.8, 2.8, 4.8, 1.4]]}\n',
             "containers/my_image_name/Dockerfile": "FROM python:3.11-slim\n",
             "containers/lib/util.py": "X = 1\n"}
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    return repo


def test_from_kfops_converts_the_original_layout(original: Path) -> None:
    result = kfc("init", "--from-kfops", "--endpoint", "https://kfp.example.test/pipeline", cwd=original)
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_config(original / "kfops.yaml")
    pipeline = config.data["pipeline"]
    assert pipeline["file"] == "my_pipeline/pipeline.py" and pipeline["function"] == "iris_pipeline"
    assert (pipeline["name"], pipeline["experiment"], pipeline["namespace"]) == (
        "Sklearn Iris", "My amazing experiment", "team-a")
    assert pipeline["description"].startswith("Example pipeline")
    assert pipeline["parameters"] == {"x": 5}  # version_id is not carried over
    images = config.data["images"]
    assert images["builder"] == "kaniko" and images["registry"] == "my-registry"
    assert images["build"] == [{"name": "my_image_name", "context": "containers/my_image_name"}]
    # the original mounted its Opaque Secret whole at /kaniko/.docker: its key config.json is the docker config
    assert images["kaniko"] == {"namespace": "kfops", "image": "gcr.io/kaniko-project/executor:v1.9.1",
                                "service_account": "image-builder", "registry_secret": "regcred",
                                "registry_secret_key": "config.json",
                                "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}
    production, staging = config.data["deployment"]["production"], config.data["deployment"]["staging"]
    assert (production["namespace"], production["inference_service"]) == ("prod", "sklearn-iris")
    assert (staging["namespace"], staging["inference_service"]) == ("staging", "sklearn-iris")
    assert production["template"] == "deploy/inference-service.yaml"
    assert production["endpoint_check"]["sample"] == "test_deployment/input.json"
    # the deployment function became a YAML template with kfops' placeholders
    template = yaml.safe_load((original / "deploy" / "inference-service.yaml").read_text()
                              .replace("{{ canary_percent }}", "10"))
    assert template["metadata"] == {"name": "{{ name }}", "namespace": "{{ namespace }}"}
    assert template["spec"]["predictor"] == {"serviceAccountName": "deployer", "canaryTrafficPercent": 10,
                                             "sklearn": {"storageUri": "{{ model_uri }}"}}
    out = result.stdout
    assert "registry_secret_key: config.json" in out and "--type=kubernetes.io/dockerconfigjson" in out
    # the original pipeline imports the old kfops package: whether it outputs a model cannot be told yet
    assert any(i.startswith("my_pipeline/pipeline.py:iris_pipeline does not compile here") and "kfops" in i
               and "model line" in i for i in not_converted(out))
    for unmapped in ("repository.owner/name", "version_id", "pipeline_execution_mode", "other_folders_path",
                     "image_builder.insecure", "spec.nodeSelector", "materialize_model", "repositoriesNames",
                     "canary"):
        assert unmapped in out, unmapped
    assert (original / "config_files" / "config.yaml").is_file()  # the original is left in place
    assert not (original / "pipeline.py").exists() and not (original / "deploy" / "sample-request.json").exists()


def test_from_kfops_says_when_the_pipeline_outputs_no_model(original: Path) -> None:
    (original / "my_pipeline" / "pipeline.py").write_text(
        NO_MODEL_PIPELINE.format(name="iris", function="iris_pipeline"))
    result = kfc("init", "--from-kfops", "--endpoint", "https://kfp.example.test/pipeline", cwd=original)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "production" in load_config(original / "kfops.yaml").data["deployment"]  # converted, as it was
    [note] = [i for i in not_converted(result.stdout) if "outputs no model" in i]
    assert note.startswith("my_pipeline/pipeline.py:iris_pipeline outputs no model")
    assert "report/table (system.Dataset)" in note and "Output[Model]" in note and "model line" in note


def test_from_kfops_keeps_a_function_it_cannot_run(original: Path) -> None:
    (original / "config_files" / "deployment.py").write_text(
        "import kserve  # not installed here\n\ndef inference_service_instance(name, storage_uri, namespace, "
        "canary_traffic_percent):\n    raise AssertionError\n")
    result = kfc("init", "--from-kfops", cwd=original)
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_config(original / "kfops.yaml")
    assert config.data["deployment"]["production"]["template"] == "config_files/deployment.py"
    assert "needs `kserve` installed where the Action runs" in result.stdout
    assert "kfops.yaml: kubeflow.endpoint" in result.stdout


def test_from_kfops_without_the_layout_says_so(tmp_path: Path) -> None:
    result = kfc("init", "--from-kfops", cwd=git_repo(tmp_path / "x"))
    assert result.returncode == 2 and "config_files/config.yaml does not exist" in result.stderr


def test_render_function_as_template_round_trips_through_the_deploy_renderer(original: Path) -> None:
    from kfops_action.deploy.template import TemplateValues, load_manifest

    text = render_function_as_template(original / "config_files" / "deployment.py")
    (original / "t.yaml").write_text(text)
    values = TemplateValues(name="iris", namespace="prod", model_uri="s3://models/run-1/model", canary_percent=10)
    via_template = load_manifest("t.yaml", original, values)
    via_function = load_manifest("config_files/deployment.py", original, values)
    assert via_template == via_function


def test_init_help_is_fast_and_listed() -> None:
    result = kfc("init", "--help")
    assert result.returncode == 0 and "--from-kfops" in result.stdout and "--force" in result.stdout
    assert shutil.which("git")


def not_converted(stdout: str) -> list[str]:
    """The items of the "Not converted" list, each with its continuation lines; fails when a line of
    the section is neither an item nor a continuation (the list would break when rendered)."""
    section = stdout.split("Not converted (do these by hand):\n")[1].split("\n\n")[0]
    items: list[str] = []
    for line in section.splitlines():
        if line.startswith("  - "):
            items.append(line[4:])
        else:
            assert line.startswith("    ") and items, f"breaks the list: {line!r}"
            items[-1] += " " + line.strip()
    return items


ORIGINAL_KANIKO_WITH_CACHE = """\
apiVersion: v1
kind: Pod
spec:
  containers:
  - name: kaniko
    image: gcr.io/kaniko-project/executor:v1.9.1
    args: ["--cache=true", "--cache-dir=/cache"]
    volumeMounts:
    - {name: docker-config, mountPath: /kaniko/.docker}
    - {name: kaniko-cache, mountPath: /cache}
    - {name: scratch, mountPath: /scratch}
  restartPolicy: Never
  volumes:
  - name: docker-config
    configMap: {name: docker-config, items: [{key: ecr.json, path: config.json}]}
  - name: kaniko-cache
    persistentVolumeClaim: {claimName: kaniko-cache-claim}
  - name: scratch
    emptyDir: {}
"""


def test_from_kfops_reports_the_cache_volume_and_converts_a_configmap_docker_config(original: Path) -> None:
    (original / "config_files" / "kaniko-manifest.yaml").write_text(ORIGINAL_KANIKO_WITH_CACHE)
    result = kfc("init", "--from-kfops", "--endpoint", "https://kfp.example.test/pipeline", cwd=original)
    assert result.returncode == 0, result.stdout + result.stderr
    kaniko = load_config(original / "kfops.yaml").data["images"]["kaniko"]
    # kfops mounts Secrets only: the ConfigMap's docker config becomes a Secret of the same name, key config.json
    assert (kaniko["registry_secret"], kaniko["registry_secret_key"]) == ("docker-config", "config.json")
    assert "cache" not in kaniko  # a registry cache is not what the PVC was: said, not switched on
    items = not_converted(result.stdout)
    [configmap] = [i for i in items if "ConfigMap docker-config" in i]
    assert ("kubectl -n kfops get configmap docker-config -o jsonpath='{.data.ecr\\.json}' > config.json && "
            "kubectl -n kfops create secret generic docker-config --from-file=config.json=config.json") in configmap
    [cache] = [i for i in items if "kaniko-cache-claim" in i]
    assert "mounted at /cache" in cache and "images.kaniko.cache: true" in cache
    assert any("volume scratch (emptyDir, mounted at /scratch) is not converted" in i for i in items)


def test_from_kfops_tells_a_broken_deployment_function_from_a_missing_kserve(original: Path, tmp_path: Path) -> None:
    function = original / "config_files" / "deployment.py"
    function.write_text("def inference_service_instance(name, storage_uri, namespace, canary_traffic_percent):\n"
                        "    raise ValueError('unknown model format: onnx2')\n")
    broken = kfc("init", "--from-kfops", "--force", cwd=original)
    assert broken.returncode == 0, broken.stdout + broken.stderr
    [note] = [i for i in not_converted(broken.stdout) if "config_files/deployment.py" in i and "fails" in i]
    assert "raised ValueError: unknown model format: onnx2" in note and "kserve" not in note
    assert "fix it and rerun `kfc init --from-kfops --force`" in note

    # kserve importable here (a stand-in package on the path), but not what the function expects: the
    # error is shown, with its own fix in the same list item, and nobody is told to install kserve
    site = tmp_path / "site"
    (site / "kserve").mkdir(parents=True)
    (site / "kserve" / "__init__.py").write_text("__version__ = '0.14.0'\n")
    function.write_text("from kserve import V1beta1InferenceService  # renamed in this kserve\n\n"
                        "def inference_service_instance(name, storage_uri, namespace, canary_traffic_percent):\n"
                        "    return V1beta1InferenceService()\n")
    installed = kfc("init", "--from-kfops", "--force", cwd=original, env={"PYTHONPATH": str(site)})
    assert installed.returncode == 0, installed.stdout + installed.stderr
    items = not_converted(installed.stdout)  # the nested "How to fix" no longer breaks the list
    [note] = [i for i in items if "config_files/deployment.py" in i and "fails" in i]
    assert "ImportError: cannot import name 'V1beta1InferenceService' from 'kserve'" in note
    assert "(how to fix: run the file locally with python" in note
    assert "install kserve" not in installed.stdout and "\nHow to fix" not in installed.stdout
    assert load_config(original / "kfops.yaml").data["deployment"]["production"]["template"] == \
        "config_files/deployment.py"


def test_list_items_keep_a_multi_line_item_in_the_list() -> None:
    from kfops_action.onboarding.init import list_items

    text = list_items(["one", "importing x failed\nHow to fix: run it\n", "three"])
    assert text == "  - one\n  - importing x failed\n    How to fix: run it\n  - three"
