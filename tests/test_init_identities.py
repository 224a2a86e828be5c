"""The cluster manifest `kfc init` writes keeps the build and deploy identities apart, on a real API server.

The pipeline job handles pull-request code, so it holds only KFOPS_BUILD_KUBECONFIG; the deploy
credential, KFOPS_KUBECONFIG, lives in the GitHub Environments only the deploy job enters. That is
worth something only if the two service accounts behind them really have disjoint rights: here the
generated deploy/kfops-cluster.yaml is applied, as an admin would, to the real kube-apiserver (RBAC
on), each account gets a token through the TokenRequest API, and the API server itself answers, by
SelfSubjectAccessReview with that token, what each may do. `kfc doctor` run with each kubeconfig
must then say which secret the rights it lacks belong to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import kfc
from test_doctor import limited_kubeconfig, of, run_doctor, unique
from test_init import git_repo
from kfops_action.onboarding import rbac
from kfops_action.onboarding.checks import FAIL, OK
from kfops_action.onboarding.checks.rbac import allowed


@pytest.fixture
def applied(kube_api: Any, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A repository after `kfc init` (Kaniko builds and both deploy environments, in fresh namespaces), with
    its deploy/kfops-cluster.yaml applied to the API server as an admin."""
    from kubernetes import utils

    namespaces = {"build": unique("builds"), "production": unique("prod"), "staging": unique("stage")}
    repo = git_repo(tmp_path / "model")
    (repo / "Dockerfile").write_text("FROM python:3.11-slim\n")
    result = kfc("init", "--builder", "kaniko", "--registry", "registry.example.test/acme",
                 "--build-namespace", namespaces["build"], "--production-namespace", namespaces["production"],
                 "--staging-namespace", namespaces["staging"], cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    admin = kube_api.api_client()
    try:
        for doc in yaml.safe_load_all((repo / "deploy" / "kfops-cluster.yaml").read_text()):
            utils.create_from_dict(admin, doc)
    finally:
        admin.close()
    return repo, namespaces


def token(kube_api: Any, identity: rbac.Identity, namespace: str) -> str:
    """A token for the account, as `kubectl create token` gets it (no controller runs here to fill in the
    long-lived token Secret the manifest also creates)."""
    from kubernetes import client as k

    admin = kube_api.api_client()
    try:
        request = k.AuthenticationV1TokenRequest(spec=k.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
        answer = k.CoreV1Api(admin).create_namespaced_service_account_token(identity.service_account, namespace, request)
    finally:
        admin.close()
    return answer.status.token


def may(kube_api: Any, bearer: str, namespace: str, resource: str, verb: str) -> bool:
    """The API server's SelfSubjectAccessReview answer for the holder of `bearer`."""
    [rule] = [r for r in rbac.BUILD_RULES + rbac.DEPLOY_RULES if r.name == resource]
    client = kube_api.api_client(bearer)
    try:
        answer, reason = allowed(client, namespace, rule, verb)
    finally:
        client.close()
    assert answer is not None, reason
    return answer


def test_build_and_deploy_identities_have_disjoint_rights(kube_api: Any, applied: tuple[Path, dict[str, str]]) -> None:
    _, ns = applied
    build = token(kube_api, rbac.BUILDER, ns["build"])
    deploy = token(kube_api, rbac.DEPLOYER, ns["production"])
    isvc, jobs = "inferenceservices.serving.kserve.io", "jobs.batch"

    assert may(kube_api, build, ns["build"], jobs, "create")
    for namespace in (ns["production"], ns["staging"]):
        assert not may(kube_api, build, namespace, isvc, "patch"), namespace
        assert not may(kube_api, build, namespace, isvc, "create"), namespace
        assert not may(kube_api, build, namespace, "leases.coordination.k8s.io", "update"), namespace
        assert may(kube_api, deploy, namespace, isvc, "patch"), namespace
    assert not may(kube_api, deploy, ns["build"], jobs, "create")
    assert not may(kube_api, deploy, ns["production"], jobs, "create")
    # nor can the build identity run a pod beside the deploy token (in the production namespace)
    assert not may(kube_api, build, ns["production"], jobs, "create")


def test_doctor_names_the_secret_each_right_belongs_to(kube_api: Any, applied: tuple[Path, dict[str, str]],
                                                       tmp_path: Path) -> None:
    repo, ns = applied
    kubeconfigs = {rbac.BUILD_SECRET: token(kube_api, rbac.BUILDER, ns["build"]),
                   rbac.DEPLOY_SECRET: token(kube_api, rbac.DEPLOYER, ns["production"])}
    lines: dict[str, dict[str, Any]] = {}
    for secret, bearer in kubeconfigs.items():
        env = {"KUBECONFIG": str(limited_kubeconfig(kube_api, tmp_path / f"{secret}.kubeconfig", bearer))}
        _, results, text = run_doctor(repo, env, only=["rbac"])
        lines[secret] = {r.message.split(":")[0]: r for r in of(results, "rbac")}
        assert set(lines[secret]) == set(ns.values()), text

    with_build, with_deploy = lines[rbac.BUILD_SECRET], lines[rbac.DEPLOY_SECRET]
    assert with_build[ns["build"]].verdict == OK
    assert f"the Kaniko builder with {rbac.BUILD_SECRET} may" in with_build[ns["build"]].message
    assert with_deploy[ns["build"]].verdict == FAIL
    assert f"check these rights with {rbac.BUILD_SECRET}'s" in (with_deploy[ns["build"]].fix or "")
    for namespace in (ns["production"], ns["staging"]):
        assert with_deploy[namespace].verdict == OK
        assert f"with {rbac.DEPLOY_SECRET} may get, create, patch, delete" in with_deploy[namespace].message
        denied = with_build[namespace]
        assert denied.verdict == FAIL and f"with {rbac.DEPLOY_SECRET} is denied" in denied.message
        assert f"the {rbac.DEPLOY_SECRET} identity (service account {rbac.SERVICE_ACCOUNT})" in (denied.fix or "")
