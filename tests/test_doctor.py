"""`kfc doctor` tells the truth: for a healthy setup, and for each piece that is missing.

Against real components: the Kubernetes API server (kube-apiserver v1.20.2 + etcd with KServe's
CRD; the admin kubeconfig and the limited-token user that has no RBAC grants), the stateful fake
KFP held to KFP's API contract, and the fake GitHub. Each scenario changes one thing in an
otherwise healthy setup and asserts the line that names it, its verdict, its fix, and the exit code.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import EXAMPLE, FAKE_TOKEN, ROOT, kfc
from kfops_action.onboarding import doctor, rbac
from kfops_action.onboarding.checks import FAIL, OK, SKIP, WARN, Result

KUBE_CHECKS = ("cluster", "kserve", "namespaces", "rbac")


# -- a project, and the cluster it deploys to --------------------------------------------------------


def make_project(tmp_path: Path, kfp_url: str, *, production: str = "ml-production", staging: str = "ml-staging",
                 edit: Any = None) -> Path:
    """The quickstart example pointed at the fake KFP, with the repository's workflows installed."""
    project = tmp_path / "model"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".kfops", "__pycache__"))
    config = yaml.safe_load((project / "kfops.yaml").read_text())
    config["kubeflow"]["endpoint"] = kfp_url
    config["deployment"]["production"]["namespace"] = production
    config["deployment"]["staging"]["namespace"] = staging
    if edit is not None:
        edit(config)
    (project / "kfops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    workflows = project / ".github" / "workflows"
    workflows.mkdir(parents=True)
    for name in ("kfops.yml", "kfops-followup.yml"):
        shutil.copy(ROOT / "workflows" / name, workflows / name)
    return project


def run_doctor(project: Path, env: dict[str, str], **kw: Any) -> tuple[int, list[Result], str]:
    """Doctor in-process (as `kfc doctor` runs it), its exit code, results and printed text."""
    out = io.StringIO()
    results: list[Result] = []
    original_run = doctor.run

    def capture(*args: Any, **kwargs: Any) -> list[Result]:
        found = original_run(*args, **kwargs)
        results.extend(found)
        return found

    doctor.run = capture  # type: ignore[assignment]
    try:
        code = doctor.main(env={"HOME": str(project), **env}, cwd=project, out=out, **kw)
    finally:
        doctor.run = original_run  # type: ignore[assignment]
    return code, results, out.getvalue()


def of(results: list[Result], check: str) -> list[Result]:
    return [r for r in results if r.check == check]


def one(results: list[Result], check: str) -> Result:
    [result] = of(results, check)
    return result


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def admin(kube_api: Any) -> Iterator[Any]:
    client = kube_api.api_client()
    yield client
    client.close()


def create_namespace(client: Any, name: str) -> None:
    from kubernetes import client as k
    from kubernetes.client.rest import ApiException

    try:
        k.CoreV1Api(client).create_namespace({"metadata": {"name": name}})
    except ApiException as exc:
        if exc.status != 409:
            raise


def set_kserve_default(client: Any, mode: str | None) -> None:
    """The `deploy` key of kserve/inferenceservice-config, as KServe's installer writes it (None: no ConfigMap)."""
    from kubernetes import client as k
    from kubernetes.client.rest import ApiException

    create_namespace(client, "kserve")
    core = k.CoreV1Api(client)
    try:
        core.delete_namespaced_config_map("inferenceservice-config", "kserve")
    except ApiException as exc:
        if exc.status != 404:
            raise
    if mode is not None:
        core.create_namespaced_config_map("kserve", {
            "metadata": {"name": "inferenceservice-config"},
            "data": {"deploy": json.dumps({"defaultDeploymentMode": mode})}})


def limited_kubeconfig(kube_api: Any, path: Path, token: str | None = None) -> Path:
    """A kubeconfig for the user with no RBAC grants, or for another bearer `token` (a service account's),
    as KFOPS_KUBECONFIG or KFOPS_BUILD_KUBECONFIG would be."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kfops",
        "clusters": [{"name": "test", "cluster": {"server": kube_api.server,
                                                  "certificate-authority": str(kube_api.ca_cert)}}],
        "contexts": [{"name": "kfops", "context": {"cluster": "test", "user": "kfops"}}],
        "users": [{"name": "kfops", "user": {"token": token or kube_api.limited_token}}]}))
    return path


@pytest.fixture
def cluster(kube_api: Any, admin: Any, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Deploy namespaces that exist, KServe defaulting to Serverless, and the admin's kubeconfig."""
    names = {"production": unique("prod"), "staging": unique("stage")}
    for name in names.values():
        create_namespace(admin, name)
    set_kserve_default(admin, "Serverless")
    yield names
    set_kserve_default(admin, "Serverless")


def healthy_env(kube_api: Any) -> dict[str, str]:
    return {"KF_PIPELINES_TOKEN": FAKE_TOKEN, "KUBECONFIG": str(kube_api.kubeconfig)}


# -- healthy ------------------------------------------------------------------------------------------


def test_a_healthy_setup_is_all_ok(kube_api: Any, cluster: dict[str, str], fake_kfp: Any, tmp_path: Path) -> None:
    fake_kfp.add_experiment("quickstart")
    project = make_project(tmp_path, fake_kfp.url, **cluster)
    code, results, text = run_doctor(project, healthy_env(kube_api))
    assert code == 0, text
    verdicts = {r.check: r.verdict for r in results}
    assert [r.verdict for r in results if r.verdict not in (OK, SKIP)] == [], text
    for check in ("config", "pipeline", "workflow", "kubeflow", "namespace", "cluster", "template", "model",
                  "kserve", "namespaces", "rbac"):
        assert verdicts[check] == OK, (check, text)
    assert "production: /deploy deploys train/model (system.Model)" in text
    assert verdicts["registry"] == SKIP and verdicts["github"] == SKIP
    assert f"{fake_kfp.url}: KFP answers (single-user), bearer token from environment variable " \
           "KF_PIPELINES_TOKEN accepted" in text
    assert "experiment 'quickstart' exists" in text
    assert "Kubernetes v1.20.2 answers" in text
    assert "default to Knative mode (ConfigMap kserve/inferenceservice-config: defaultDeploymentMode Serverless)" \
        in text
    assert f"{cluster['production']}: /deploy (production) with {rbac.DEPLOY_SECRET} may get, create, patch, delete " \
           "inferenceservices.serving.kserve.io" in text
    assert text.rstrip().endswith("kfops is ready")
    assert FAKE_TOKEN not in text
    # read-only: nothing was created on Kubeflow
    assert fake_kfp.pipelines == {} and len(fake_kfp.experiments) == 1


def test_kfc_doctor_from_the_command_line(kube_api: Any, cluster: dict[str, str], fake_kfp: Any,
                                          tmp_path: Path) -> None:
    project = make_project(tmp_path, fake_kfp.url, **cluster)
    env = healthy_env(kube_api)
    result = kfc("doctor", cwd=project, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok    config      kfops.yaml is valid")
    assert "experiment 'quickstart' will be created by the first run" in result.stdout
    as_json = kfc("doctor", "--json", "--only", "kubeflow", cwd=project, env=env)
    payload = json.loads(as_json.stdout)
    assert payload["exit_code"] == 0 and [r["check"] for r in payload["results"]] == ["kubeflow"]
    failing = kfc("doctor", "--only", "kubeflow", cwd=project, env={"KUBECONFIG": env["KUBECONFIG"]})
    assert failing.returncode == 1 and "FAIL  kubeflow" in failing.stdout
    assert kfc("doctor", "--only", "nonsense", cwd=project).returncode == 2


# -- Kubeflow: each missing piece ---------------------------------------------------------------------


def test_no_config(tmp_path: Path) -> None:
    code, results, text = run_doctor(tmp_path, {})
    assert code == 1
    config = one(results, "config")
    assert config.verdict == FAIL and "kfc init" in (config.fix or "")
    assert {r.verdict for r in results if r.check not in ("config", "workflow")} == {SKIP}


def test_invalid_config_and_broken_pipeline(tmp_path: Path, fake_kfp: Any) -> None:
    project = make_project(tmp_path, fake_kfp.url, edit=lambda c: c["pipeline"].update(fucntion="x"))
    code, results, _ = run_doctor(project, {})
    assert code == 1 and "unknown key 'fucntion'" in one(results, "config").message
    (project / "kfops.yaml").write_text((project / "kfops.yaml").read_text().replace("  fucntion: x\n", ""))
    (project / "pipeline.py").write_text((project / "pipeline.py").read_text() + "\nraise RuntimeError('boom')\n")
    code, results, _ = run_doctor(project, {"KF_PIPELINES_TOKEN": FAKE_TOKEN}, only=["pipeline"])
    pipeline = one(results, "pipeline")
    assert code == 1 and pipeline.verdict == FAIL and "boom" in pipeline.message
    assert "/build_run" in pipeline.needed_by


def test_missing_and_wrong_kubeflow_credentials(tmp_path: Path, fake_kfp: Any) -> None:
    project = make_project(tmp_path, fake_kfp.url)
    code, results, _ = run_doctor(project, {}, only=["kubeflow"])
    line, reached, unchecked = of(results, "kubeflow")
    assert code == 1 and line.verdict == FAIL and "KF_PIPELINES_TOKEN is not set" in line.message
    assert "KFOPS_KUBEFLOW_TOKEN" in (line.fix or "") and "/build_run" in line.needed_by
    # still asked: is it there at all? (the fake, like an auth proxy, wants credentials even for healthz)
    assert reached.verdict == OK and "asks for credentials (HTTP 401" in reached.message
    assert unchecked.verdict == SKIP and "credentials not checked" in unchecked.message
    code, results, text = run_doctor(project, {"KF_PIPELINES_TOKEN": "not-the-token"}, only=["kubeflow"])
    line = one(results, "kubeflow")
    assert code == 1 and "rejected the credentials (HTTP 401)" in line.message
    assert "refresh it" in (line.fix or "") and "not-the-token" not in text
    fake_kfp.contract_errors.clear()


def test_unreachable_kubeflow(tmp_path: Path, fake_kfp: Any) -> None:
    project = make_project(tmp_path, "http://127.0.0.1:9")
    code, results, _ = run_doctor(project, {"KF_PIPELINES_TOKEN": FAKE_TOKEN}, only=["kubeflow", "namespace"])
    assert code == 1 and "unreachable: connection refused" in one(results, "kubeflow").message
    assert one(results, "namespace").verdict == SKIP


def test_placeholder_endpoint_from_init(tmp_path: Path) -> None:
    project = make_project(tmp_path, "https://kubeflow.example.com/pipeline")
    code, results, _ = run_doctor(project, {"KF_PIPELINES_TOKEN": FAKE_TOKEN}, only=["kubeflow"])
    placeholder, not_contacted = of(results, "kubeflow")
    assert code == 1 and "still the placeholder" in placeholder.message and placeholder.verdict == FAIL
    assert not_contacted.verdict == SKIP and "not contacted" in not_contacted.message


def test_every_kubeflow_finding_at_once(tmp_path: Path) -> None:
    """A new user's first doctor run after kfc init: the placeholder endpoint and the missing token
    are both reported, with their fixes, not the second only after the first is fixed."""
    project = make_project(tmp_path, "https://kubeflow.example.com/pipeline",
                           edit=lambda c: c["kubeflow"].update(auth={"type": "token"}))
    code, results, text = run_doctor(project, {}, only=["kubeflow"])
    token, placeholder, not_contacted = of(results, "kubeflow")
    assert code == 1 and (token.verdict, placeholder.verdict, not_contacted.verdict) == (FAIL, FAIL, SKIP)
    assert "KF_PIPELINES_TOKEN is not set" in token.message and "KFOPS_KUBEFLOW_TOKEN" in (token.fix or "")
    assert "still the placeholder" in placeholder.message and "kubeflow.endpoint" in (placeholder.fix or "")
    assert "no usable endpoint" in not_contacted.message
    assert text.count("FAIL  kubeflow") == 2 and "2 failed" in text


def test_unreachable_kubeflow_and_missing_token_at_once(tmp_path: Path) -> None:
    project = make_project(tmp_path, "http://127.0.0.1:9", edit=lambda c: c["kubeflow"].update(
        auth={"type": "cookie", "cookie_env": "MY_SESSION"}))
    code, results, _ = run_doctor(project, {}, only=["kubeflow"])
    cookie, unreachable, unchecked = of(results, "kubeflow")
    assert code == 1 and "MY_SESSION is not set" in cookie.message
    # a custom variable is not filled by the action's input: the fix says how the workflow sets it
    assert "KFOPS_KUBEFLOW_COOKIE" in (cookie.fix or "") and "env: MY_SESSION:" in (cookie.fix or "")
    assert unreachable.verdict == FAIL and "connection refused" in unreachable.message
    assert unchecked.verdict == SKIP


@pytest.fixture
def multi_user(fake_kfp: Any) -> Iterator[Any]:
    fake_kfp.multi_user = True
    yield fake_kfp
    fake_kfp.multi_user = False
    fake_kfp.__dict__.pop("_list_experiments", None)


def test_multi_user_kubeflow_needs_a_namespace(tmp_path: Path, multi_user: Any) -> None:
    project = make_project(tmp_path, multi_user.url)
    code, results, _ = run_doctor(project, {"KF_PIPELINES_TOKEN": FAKE_TOKEN}, only=["kubeflow", "namespace"])
    assert "(multi-user)" in one(results, "kubeflow").message
    line = one(results, "namespace")
    assert code == 1 and line.verdict == FAIL and "pipeline.namespace is not set" in line.message
    assert "profile namespace" in (line.fix or "")


def test_namespace_the_token_may_not_use(tmp_path: Path, multi_user: Any) -> None:
    from fakes.fake_kfp import ApiError

    def refuse(params: dict, query: dict, body: Any) -> dict:
        raise ApiError(403, f"user is not authorized in namespace {query.get('namespace')}")

    multi_user._list_experiments = refuse
    project = make_project(tmp_path, multi_user.url, edit=lambda c: c["pipeline"].update(namespace="team-a"))
    code, results, _ = run_doctor(project, {"KF_PIPELINES_TOKEN": FAKE_TOKEN}, only=["kubeflow", "namespace"])
    assert one(results, "kubeflow").verdict == OK
    line = one(results, "namespace")
    assert code == 1 and line.verdict == FAIL and "refuses access to namespace 'team-a' (HTTP 403)" in line.message
    assert "contributor" in (line.fix or "")


def test_namespace_missing_from_the_cluster(kube_api: Any, tmp_path: Path, multi_user: Any) -> None:
    missing = unique("no-such-profile")
    project = make_project(tmp_path, multi_user.url, edit=lambda c: c["pipeline"].update(namespace=missing))
    env = healthy_env(kube_api)
    code, results, _ = run_doctor(project, env, only=["kubeflow", "namespace"])
    line = one(results, "namespace")
    assert code == 1 and line.verdict == FAIL and f"the cluster has no namespace '{missing}'" in line.message
    create_namespace(kube_api.api_client(), missing)
    code, results, _ = run_doctor(project, env, only=["kubeflow", "namespace"])
    assert code == 0 and "is usable and exists in the cluster" in one(results, "namespace").message


# -- the cluster: each missing piece ------------------------------------------------------------------


def test_unreachable_cluster(tmp_path: Path, fake_kfp: Any) -> None:
    project = make_project(tmp_path, fake_kfp.url)
    kubeconfig = tmp_path / "dead.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t0ken-value"}}]}))
    code, results, text = run_doctor(project, {"KUBECONFIG": str(kubeconfig)}, only=list(KUBE_CHECKS))
    line = one(results, "cluster")
    assert code == 1 and line.verdict == FAIL and "does not answer" in line.message
    assert set(line.needed_by) == {"/deploy", "/staging_deploy"}
    assert {r.verdict for r in results if r.check in ("kserve", "namespaces", "rbac")} == {SKIP}
    code, results, _ = run_doctor(project, {"KUBECONFIG": str(tmp_path / "none")}, only=["cluster"])
    assert code == 1 and "no usable kubeconfig" in one(results, "cluster").message


def test_nothing_needs_the_cluster_without_deployment(tmp_path: Path, fake_kfp: Any) -> None:
    project = make_project(tmp_path, fake_kfp.url, edit=lambda c: c.pop("deployment"))
    code, results, _ = run_doctor(project, {}, only=list(KUBE_CHECKS) + ["template"])
    assert code == 0 and {r.verdict for r in results if r.check != "config"} == {SKIP}


def test_kserve_missing_raw_default_and_unreadable_config(kube_api: Any, admin: Any, cluster: dict[str, str],
                                                          tmp_path: Path, fake_kfp: Any) -> None:
    project = make_project(tmp_path, fake_kfp.url, **cluster)
    env = healthy_env(kube_api)
    set_kserve_default(admin, "RawDeployment")
    code, results, _ = run_doctor(project, env, only=["template", "kserve"])
    line = one(results, "kserve")
    assert code == 1 and line.verdict == FAIL and "default to Standard mode" in line.message
    assert "refuse the canary for production, staging" in line.message
    assert "raw_deployment: replace" in (line.fix or "")

    def replace(c: dict) -> None:
        for env_settings in c["deployment"].values():
            env_settings["raw_deployment"] = "replace"

    replacing = make_project(tmp_path / "replacing", fake_kfp.url, edit=replace, **cluster)
    code, results, _ = run_doctor(replacing, env, only=["template", "kserve"])
    assert code == 0 and one(results, "kserve").verdict == OK
    set_kserve_default(admin, None)
    code, results, _ = run_doctor(project, env, only=["template", "kserve"])
    line = one(results, "kserve")
    assert code == 0 and line.verdict == WARN and "default deployment mode unknown (no ConfigMap" in line.message


def test_kserve_not_installed(tmp_path: Path, fake_kfp: Any, kube_api: Any, admin: Any,
                              cluster: dict[str, str]) -> None:
    """The real API server has the CRD; a cluster without it answers 404 to the discovery request."""
    project = make_project(tmp_path, fake_kfp.url, **cluster)
    original = admin.call_api

    def without_kserve(path: str, *args: Any, **kwargs: Any) -> Any:
        return original(path.replace("serving.kserve.io", "serving.kserve-missing.io"), *args, **kwargs)

    admin.call_api = without_kserve
    code, results, _ = run_doctor(project, {}, only=["cluster", "kserve"], kube_factory=lambda context: admin)
    line = one(results, "kserve")
    assert code == 1 and line.verdict == FAIL and "KServe is not installed" in line.message


def test_missing_namespaces_and_service_accounts(kube_api: Any, admin: Any, tmp_path: Path, fake_kfp: Any) -> None:
    production, staging = unique("prod"), unique("stage")
    create_namespace(admin, staging)
    project = make_project(tmp_path, fake_kfp.url, production=production, staging=staging)
    template = project / "inference-service.yaml"
    template.write_text(template.read_text().replace("    minReplicas: 1\n",
                                                     "    minReplicas: 1\n    serviceAccountName: model-reader\n"))
    code, results, _ = run_doctor(project, healthy_env(kube_api), only=["template", "namespaces"])
    lines = {r.message.split(":")[0]: r for r in of(results, "namespaces")}
    assert code == 1
    assert lines[f"namespace '{production}' does not exist"].verdict == FAIL
    stage = next(r for r in of(results, "namespaces") if staging in r.message)
    assert stage.verdict == FAIL and "missing: service account model-reader" in stage.message
    from kubernetes import client as k

    k.CoreV1Api(admin).create_namespaced_service_account(staging, {"metadata": {"name": "model-reader"}})
    code, results, _ = run_doctor(project, healthy_env(kube_api), only=["template", "namespaces"])
    stage = next(r for r in of(results, "namespaces") if staging in r.message)
    assert stage.verdict == OK and "service account model-reader present" in stage.message


def test_rbac_denials_for_the_limited_user_then_the_generated_roles_fix_them(
        kube_api: Any, admin: Any, cluster: dict[str, str], tmp_path: Path, fake_kfp: Any) -> None:
    build = unique("builds")
    create_namespace(admin, build)

    def kaniko(c: dict) -> None:
        c["images"] = {"builder": "kaniko", "registry": "registry.example.test/acme",
                       "build": [{"name": "trainer", "context": "."}], "kaniko": {"namespace": build}}

    project = make_project(tmp_path, fake_kfp.url, edit=kaniko, **cluster)
    (project / "Dockerfile").write_text("FROM python:3.11-slim\n")
    env = {"KUBECONFIG": str(limited_kubeconfig(kube_api, tmp_path / "limited.kubeconfig"))}
    code, results, text = run_doctor(project, env, only=list(KUBE_CHECKS) + ["template", "registry"])
    assert code == 1
    assert one(results, "cluster").verdict == OK and "context kfops" in one(results, "cluster").message
    denied = {r.message.split(":")[0]: r for r in of(results, "rbac")}
    production = denied[cluster["production"]]
    assert production.verdict == FAIL and production.needed_by == ("/deploy",)
    assert "denied get, create, patch, delete inferenceservices.serving.kserve.io" \
           in production.message and "get, create, update leases.coordination.k8s.io" in production.message
    assert f"Role {rbac.DEPLOY_ROLE} in namespace {cluster['production']}" in (production.fix or "")
    # one kubeconfig is checked for both identities' rights: each line says whose they are
    assert f"with {rbac.DEPLOY_SECRET} is denied" in production.message
    assert f"the {rbac.DEPLOY_SECRET} identity (service account {rbac.SERVICE_ACCOUNT})" in (production.fix or "")
    builds = denied[build]
    assert builds.verdict == FAIL and "create, get, list, delete jobs.batch" in builds.message and "get pods/log" in builds.message
    assert f"the Kaniko builder with {rbac.BUILD_SECRET} is denied" in builds.message
    assert f"the {rbac.BUILD_SECRET} identity (service account {rbac.BUILD_SERVICE_ACCOUNT})" in (builds.fix or "")
    # a deploy account may not read namespaces: the line says it cannot verify, it does not fail
    assert all(r.verdict == WARN and "may not read namespaces" in r.message for r in of(results, "namespaces"))
    assert one(results, "kserve").verdict == WARN  # not allowed to read kserve/inferenceservice-config
    assert one(results, "registry").verdict == WARN  # no registry_secret configured

    # apply exactly the Roles `kfc init` writes (bound to this user instead of the kfops service accounts)
    from kubernetes import client as k

    rbac_api = k.RbacAuthorizationV1Api(admin)
    grants = [(cluster["production"], rbac.DEPLOY_ROLE, rbac.DEPLOY_RULES),
              (cluster["staging"], rbac.DEPLOY_ROLE, rbac.DEPLOY_RULES),
              (build, rbac.BUILD_ROLE, [r for r in rbac.BUILD_RULES if not r.optional])]
    for namespace, name, rules in grants:
        rbac_api.create_namespaced_role(namespace, rbac.role(name, namespace, rules))
        binding = rbac.role_binding(name, namespace, namespace, "unused")
        binding["subjects"] = [{"kind": "User", "name": "limited", "apiGroup": "rbac.authorization.k8s.io"}]
        rbac_api.create_namespaced_role_binding(namespace, binding)
    code, results, text = run_doctor(project, env, only=["rbac"])
    verdicts = {r.message.split(":")[0]: r.verdict for r in of(results, "rbac")}
    assert verdicts == {cluster["production"]: OK, cluster["staging"]: OK, build: WARN}, text
    assert code == 0 and "unchanged images will be rebuilt every time" in text  # configmaps are optional


# -- templates, workflows, registry, GitHub -----------------------------------------------------------


def test_broken_template_and_missing_sample(tmp_path: Path, fake_kfp: Any) -> None:
    project = make_project(tmp_path, fake_kfp.url)
    template = project / "inference-service.yaml"
    template.write_text(template.read_text().replace("{{ model_uri }}", "{{ model_url }}"))
    (project / "sample-request.json").unlink()
    code, results, _ = run_doctor(project, {}, only=["template"])
    production, staging = of(results, "template")
    assert code == 1 and production.verdict == FAIL and "unknown placeholders" in production.message
    assert "{{ model_url }}" in production.message and production.needed_by == ("/deploy",)
    assert staging.needed_by == ("/staging_deploy",)


NO_MODEL_PIPELINE = """\
from kfp import dsl
from kfp.dsl import Dataset, Output


@dsl.component(base_image="python:3.11-slim")
def make_data(rows: int, data: Output[Dataset]):
    open(data.path, "w").write(str(rows))


@dsl.pipeline(name="no-model")
def training_pipeline(n_samples: int = 3):
    make_data(rows=n_samples)
"""


def test_a_deployment_for_a_pipeline_without_a_model_output(tmp_path: Path, fake_kfp: Any) -> None:
    project = make_project(tmp_path, fake_kfp.url, edit=lambda c: c["pipeline"].pop("parameters", None))
    (project / "pipeline.py").write_text(NO_MODEL_PIPELINE)
    code, results, text = run_doctor(project, {}, only=["model"])
    production, staging = of(results, "model")
    assert code == 1 and (production.verdict, staging.verdict) == (FAIL, FAIL), text
    assert production.message.startswith("production: pipeline.py:training_pipeline outputs no model")
    assert "make-data/data (system.Dataset)" in production.message  # what it does output
    assert "Output[Model]" in (production.fix or "") and "deployment.production.model" in (production.fix or "")
    assert production.needed_by == ("/deploy",) and staging.needed_by == ("/staging_deploy",)
    assert "FAIL  model" in text and of(results, "pipeline") == []  # needed, so it ran, quietly: it passed


def test_a_configured_model_output_the_pipeline_does_not_have(tmp_path: Path, fake_kfp: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["deployment"]["production"]["model"] = {"task": "train", "output": "classifier"}
        config["deployment"]["staging"]["model"] = {"task": "evaluate"}

    project = make_project(tmp_path, fake_kfp.url, edit=edit)
    code, results, _ = run_doctor(project, {}, only=["model"])
    production, staging = of(results, "model")
    assert code == 1 and production.verdict == FAIL and staging.verdict == FAIL
    assert "deployment.production.model names output 'classifier' of task 'train'" in production.message
    assert "train/model (system.Model)" in production.message  # the outputs to choose from
    assert "deployment.staging.model names output 'model' of task 'evaluate'" in staging.message
    (project / "kfops.yaml").write_text((project / "kfops.yaml").read_text().replace("output: classifier",
                                                                                     "output: model"))
    code, results, _ = run_doctor(project, {}, only=["model"])
    assert [r.verdict for r in of(results, "model")] == [OK, FAIL]


def test_two_model_outputs_are_one_too_many(tmp_path: Path, fake_kfp: Any) -> None:
    project = make_project(tmp_path, fake_kfp.url, edit=lambda c: c["deployment"].pop("staging"))
    pipeline = project / "pipeline.py"
    text = pipeline.read_text()
    second = text.index("    evaluate(")  # a second training task: two outputs named `model` in every run
    pipeline.write_text(text[:second] + "    train(train_data=dataset_task.outputs['train_data'], "
                        "learning_rate=learning_rate, epochs=epochs)\n" + text[second:])
    code, results, _ = run_doctor(project, {}, only=["model"])
    line = one(results, "model")
    assert code == 1 and line.verdict == FAIL and "would find 2 models in each run" in line.message
    assert "train/model (system.Model)" in line.message and "train-2/model (system.Model)" in line.message
    assert "deployment.production.model.task" in (line.fix or "")


def test_workflow_permissions(tmp_path: Path, fake_kfp: Any) -> None:
    project = make_project(tmp_path, fake_kfp.url)
    path = project / ".github" / "workflows" / "kfops.yml"
    workflow = yaml.safe_load(path.read_text())
    workflow["jobs"]["deploy"]["permissions"].pop("deployments")
    workflow["jobs"]["chat"].pop("permissions")
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    code, results, _ = run_doctor(project, {}, only=["workflow"])
    lines = {r.message.split(" (")[0]: r for r in of(results, "workflow")}
    deploy = lines[".github/workflows/kfops.yml job deploy"]
    assert code == 1 and deploy.verdict == FAIL and "lacks {deployments: write}" in deploy.message
    chat = lines[".github/workflows/kfops.yml job chat"]  # falls back to the workflow's `permissions: {}`
    assert chat.verdict == FAIL and "lacks {contents: read, pull-requests: write}" in chat.message
    assert lines[".github/workflows/kfops.yml job pipeline"].verdict == OK
    workflow.pop("permissions")
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    code, results, _ = run_doctor(project, {}, only=["workflow"])
    chat = next(r for r in of(results, "workflow") if "job chat" in r.message)
    assert chat.verdict == WARN and "default token permissions" in chat.message
    shutil.rmtree(project / ".github")
    code, results, _ = run_doctor(project, {}, only=["workflow"])
    assert code == 0 and one(results, "workflow").verdict == WARN and "kfc init" in (one(results, "workflow").fix or "")


def test_registry_credentials_the_docker_builder_reads(tmp_path: Path, fake_kfp: Any) -> None:
    def docker(c: dict) -> None:
        c["images"] = {"builder": "docker", "registry": "registry.example.test/acme",
                       "build": [{"name": "trainer", "context": "."}]}

    project = make_project(tmp_path, fake_kfp.url, edit=docker)
    code, results, _ = run_doctor(project, {}, only=["registry"])
    assert code == 0 and one(results, "registry").verdict == WARN
    code, results, text = run_doctor(project, {"KFOPS_REGISTRY_PASSWORD": "s3cret-pass"}, only=["registry"])
    assert code == 1 and "KFOPS_REGISTRY_USERNAME is not set" in one(results, "registry").message
    assert "s3cret-pass" not in text
    code, results, text = run_doctor(project, {"INPUT_REGISTRY-USERNAME": "bot", "INPUT_REGISTRY-PASSWORD": "s3cret-pass",
                                               "INPUT_REGISTRY": "registry.example.test"},
                                     only=["registry"])
    assert code == 0 and "docker logs in to registry.example.test as bot" in one(results, "registry").message
    assert "s3cret-pass" not in text


def test_github_token_in_the_action(tmp_path: Path, fake_kfp: Any) -> None:
    from fakes.github_prism import GITHUB_TOKEN, shared_fake

    fake = shared_fake()
    fake.reset()
    project = make_project(tmp_path, fake_kfp.url)
    env = {"GITHUB_ACTIONS": "true", "GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": f"{fake.owner}/{fake.repo}"}
    code, results, text = run_doctor(project, {**env, "GITHUB_TOKEN": GITHUB_TOKEN}, only=["github"])
    assert code == 0 and "token accepted for kfops-org/model" in one(results, "github").message
    assert GITHUB_TOKEN not in text
    code, results, _ = run_doctor(project, {**env, "GITHUB_TOKEN": "ghs_wrong0000"}, only=["github"])
    assert code == 1 and "401 Bad credentials" in one(results, "github").message
    code, results, _ = run_doctor(project, env, only=["github"])
    assert code == 1 and "no GitHub token" in one(results, "github").message
    code, results, _ = run_doctor(project, {}, only=["github"])
    assert one(results, "github").verdict == SKIP


@pytest.mark.parametrize("scopes, verdict", [("repo, workflow", OK), ("read:org", FAIL)])
def test_classic_token_scopes(tmp_path: Path, fake_kfp: Any, scopes: str, verdict: str) -> None:
    """A classic personal access token: GitHub lists its scopes in X-OAuth-Scopes."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = json.dumps({"full_name": "acme/model", "private": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-OAuth-Scopes", scopes)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        project = make_project(tmp_path, fake_kfp.url)
        env = {"GITHUB_ACTIONS": "true", "GITHUB_API_URL": f"http://127.0.0.1:{server.server_address[1]}",
               "GITHUB_REPOSITORY": "acme/model", "GITHUB_TOKEN": "ghp_classic0000"}
        code, results, _ = run_doctor(project, env, only=["github"])
    finally:
        server.shutdown()
        server.server_close()
    line = one(results, "github")
    assert line.verdict == verdict and code == (1 if verdict == FAIL else 0)
    if verdict == FAIL:
        assert "kfops needs repo" in line.message


def test_one_line_per_result_with_its_fix() -> None:
    result = Result("kubeflow", FAIL, "no token", "export it", ("/build",))
    assert doctor.line(result) == "FAIL  kubeflow    no token; fix: export it (blocks /build)"
    assert doctor.line(Result("config", OK, "fine", "unused")) == "ok    config      fine"
    assert doctor.summary([result]).endswith("blocked: /build")
    assert os.linesep not in doctor.line(result)


def test_doctor_help_lists_the_checks() -> None:
    result = kfc("doctor", "--help")
    assert result.returncode == 0
    for name in doctor.CHECK_NAMES:
        assert name in result.stdout
