"""One set of secret names, from kfops_action/workflow_secrets.py, in every place a user reads one.

A new user creates the secret a hint names. The workflows read KFOPS_KUBEFLOW_TOKEN,
KFOPS_BUILD_KUBECONFIG and KFOPS_KUBECONFIG; a hint that says `secrets.KF_PIPELINES_TOKEN` (the
environment variable's name) sends them to create a secret nothing reads. So: the workflows read
only these names, the docs mention no other secret name, and the hints of `kfc build`, `kfc doctor`
and `kfc init` name the same secret, as a user sees them (subprocesses).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLE, ROOT, kfc
from kfops_action import workflow_secrets
from kfops_action.kubeflow.connection import Connection
from kfops_action.kubeflow.remote import _auth_fix

WORKFLOWS = sorted((ROOT / "workflows").glob("*.yml")) + sorted(
    (ROOT / "kfops_action" / "onboarding" / "templates").glob("*.yml"))
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
SECRET_LIKE = re.compile(r"\bKFOPS_[A-Z_]*(?:TOKEN|COOKIE|KUBECONFIG)\b")
GITHUB_TOKEN = "GITHUB_TOKEN"  # GitHub's own, not one to create


def test_the_workflows_read_exactly_these_secrets() -> None:
    read: set[str] = set()
    for path in WORKFLOWS:
        read |= set(re.findall(r"secrets\.([A-Za-z_]+)", path.read_text())) - {GITHUB_TOKEN}
    assert read == {workflow_secrets.KUBEFLOW_TOKEN, workflow_secrets.BUILD_KUBECONFIG,
                    workflow_secrets.DEPLOY_KUBECONFIG}
    main = (ROOT / "workflows" / "kfops.yml").read_text()
    assert workflow_secrets.workflow_line("token") in main


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_the_docs_name_no_other_secret(page: Path) -> None:
    text = page.read_text()
    named = {m for m in SECRET_LIKE.findall(text)} - {"KFOPS_KUBECONFIG_EPHEMERAL"}  # an internal variable
    assert named <= set(workflow_secrets.ALL), sorted(named - set(workflow_secrets.ALL))
    in_expressions = set(re.findall(r"secrets\.([A-Za-z_]+)", text)) - {GITHUB_TOKEN}
    assert in_expressions <= set(workflow_secrets.ALL), sorted(in_expressions)


def project_with_auth(tmp_path: Path, auth: dict[str, str]) -> Path:
    project = tmp_path / "model"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".kfops", "__pycache__"))
    config = yaml.safe_load((project / "kfops.yaml").read_text())
    config["kubeflow"] = {"endpoint": "http://127.0.0.1:9", "auth": auth}
    (project / "kfops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return project


@pytest.mark.parametrize("kind, auth", [("token", {"type": "token"}), ("cookie", {"type": "cookie"})])
def test_kfc_build_doctor_and_init_name_the_same_secret(tmp_path: Path, kind: str, auth: dict[str, str]) -> None:
    secret = workflow_secrets.KUBEFLOW_SECRETS[kind][0]
    project = project_with_auth(tmp_path, auth)
    build = kfc("build", cwd=project)
    assert build.returncode != 0 and "is not set or empty" in build.stderr
    assert f"create the repository secret {secret}" in build.stderr
    assert "secrets.KF_PIPELINES" not in build.stderr  # the variable's name is not a secret anyone creates
    doctor = kfc("doctor", "--only", "kubeflow", cwd=project)
    assert doctor.returncode == 1 and f"create the repository secret {secret}" in doctor.stdout
    repo = tmp_path / "fresh"
    repo.mkdir()
    init = kfc("init", "--auth", kind, "--no-deploy", cwd=repo)
    assert init.returncode == 0, init.stdout + init.stderr
    assert f"   - {secret}: " in init.stdout
    assert workflow_secrets.workflow_line(kind) in (repo / ".github" / "workflows" / "kfops.yml").read_text()


def test_the_no_credentials_hint_names_the_secret() -> None:
    fix = _auth_fix(Connection(endpoint="https://kfp.example.test"))
    assert workflow_secrets.KUBEFLOW_TOKEN in fix and workflow_secrets.KUBEFLOW_COOKIE in fix
