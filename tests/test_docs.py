"""The docs cannot drift from the code: every generated part is regenerated here and compared.

- docs/config-reference.md (from the JSON Schema), the RBAC tables and the list of doctor checks:
  scripts/generate_docs.py;
- the PR conversation (docs/commands.md), the `kfc init` transcript (docs/getting-started.md) and the
  `kfc doctor` transcripts (docs/doctor.md): captured from the real code against the test fakes
  (tests/docs_capture.py).

A stale page fails with the command that refreshes it: `python scripts/generate_docs.py`, or
`KFOPS_UPDATE_DOCS=1 pytest tests/test_docs.py`. The site itself must build with
`mkdocs build --strict` (broken links and missing pages fail it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import docs_capture
from conftest import FAKE_TOKEN, ROOT, kfc, require_infra
from test_doctor import create_namespace, limited_kubeconfig, make_project, set_kserve_default

DOCS = ROOT / "docs"
UPDATE = os.environ.get("KFOPS_UPDATE_DOCS") == "1"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_docs", ROOT / "scripts" / "generate_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()


def check_block(page: str, name: str, content: str) -> None:
    path = DOCS / page
    text = path.read_text(encoding="utf-8")
    if UPDATE:
        path.write_text(GENERATOR.replace_block(text, name, content), encoding="utf-8")
        return
    assert GENERATOR.block(text, name) == content, (
        f"docs/{page} block {name!r} is stale: run KFOPS_UPDATE_DOCS=1 pytest tests/test_docs.py")


def test_generated_pages_are_current() -> None:
    stale = [str(path.relative_to(ROOT)) for path, text in GENERATOR.expected().items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    assert stale == [], f"stale: {stale}; run python scripts/generate_docs.py"


def test_the_generator_check_mode_agrees() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_docs.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_config_reference_lists_every_schema_key() -> None:
    from kfops_action.config.validation import schema

    reference = (DOCS / "config-reference.md").read_text()
    for key in ("pipeline.file", "images.kaniko.registry_secret", "kubeflow.auth.token_env",
                "deployment.production.endpoint_check.sample", "deployment.staging.raw_deployment",
                "metrics.key_metric", "chatops.commands.<build|run|build_run|deploy|staging_deploy|rollback|undeploy|lock|unlock|status|cancel|help>"
                ".permission"):
        assert f"`{key}`" in reference, key
    assert len(re.findall(r"^\| `", reference, re.M)) > 60
    assert set(schema()["properties"]) <= set(re.findall(r"^## `(\w+)`", reference, re.M))


def test_pr_conversation(tmp_path: Path, fake_kfp: Any) -> None:
    from fakes.action_flow import PullRequest, make_checkout
    from fakes.github_prism import GitHubEndpoint, shared_fake

    fake = shared_fake()
    fake.reset()
    try:
        checkout, head = make_checkout(tmp_path)
        endpoint = GitHubEndpoint(fake, "direct")

        def pr() -> PullRequest:
            return PullRequest(endpoint, fake_kfp.url, fake_kfp.token, checkout, head, summary=tmp_path / "summary.md")

        content = docs_capture.conversation(pr, fake_kfp)
    finally:
        fake.reset()
    assert FAKE_TOKEN not in content and "127.0.0.1" not in content
    for expected in ("@alice here you may run:", "`/build_run` succeeded", "did you mean 'epochs'?",
                     "Did you mean `/deploy`?", "@bob cannot run /deploy here", "canceled"):
        assert expected in content, expected
    check_block("commands.md", "conversation", content)


def test_init_transcript(tmp_path: Path) -> None:
    content = docs_capture.init_transcript(kfc, tmp_path)
    assert "wrote    kfops.yaml" in content and "Next steps:" in content
    check_block("getting-started.md", "init-transcript", content)


def test_doctor_transcripts(kube_api: Any, fake_kfp: Any, tmp_path: Path) -> None:
    admin = kube_api.api_client()
    try:
        for namespace in ("docs-production", "docs-staging"):
            create_namespace(admin, namespace)
        set_kserve_default(admin, "Serverless")
    finally:
        admin.close()
    project = make_project(tmp_path, fake_kfp.url, production="docs-production", staging="docs-staging")
    urls = {fake_kfp.url: docs_capture.KFP, kube_api.server: docs_capture.K8S}
    healthy = docs_capture.doctor_transcript(
        kfc, project, {"KF_PIPELINES_TOKEN": FAKE_TOKEN, "KUBECONFIG": str(kube_api.kubeconfig)}, urls)
    assert healthy.rstrip().endswith("$ echo $?\n0\n```") and "kfops is ready" in healthy
    broken = docs_capture.doctor_transcript(
        kfc, project, {"KUBECONFIG": str(limited_kubeconfig(kube_api, tmp_path / "kfops.kubeconfig"))}, urls)
    assert "FAIL  kubeflow" in broken and "FAIL  rbac" in broken and broken.rstrip().endswith("1\n```")
    check_block("doctor.md", "doctor-healthy", healthy)
    check_block("doctor.md", "doctor-broken", broken)


def test_relative_links_resolve() -> None:
    pages = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_mkdocs_builds_the_site_strictly(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        require_infra("mkdocs and mkdocs-material", "pip install -e '.[test]' (or '.[docs]')")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    index = (tmp_path / "site" / "index.html").read_text()
    assert 'class="mermaid"' in index  # the flow diagram is rendered by Mermaid, not shown as code
    assert (tmp_path / "site" / "config-reference" / "index.html").is_file()


def test_every_mermaid_diagram_in_the_docs_parses() -> None:
    """With Mermaid's own parser (npm mermaid, as GitHub and the site render it)."""
    from fakes.metrics_infra import HOW_TO, mermaid_parse, node_dir

    folder = node_dir()
    if folder is None:
        require_infra("Mermaid's parser", HOW_TO)
    assert folder is not None
    diagrams = [d for page in sorted(DOCS.glob("*.md"))
                for d in re.findall(r"```mermaid\n(.*?)```", page.read_text(encoding="utf-8"), re.S)]
    assert diagrams, "the flow diagram is missing"
    results = mermaid_parse(folder, diagrams)
    assert all(r["ok"] for r in results), results
