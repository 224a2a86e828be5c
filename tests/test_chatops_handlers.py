"""/build, /run, /build_run through the dispatcher with the real handlers: the example pipeline,
the real kfp compiler, a git checkout, and the fake KFP server held to KFP's contract."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_chatops_dispatch import SHA, BaseBranch, FakeGitHub, event, pull_json

from kfops_action.chatops import dispatch as d
from kfops_action.chatops.dispatch import dispatch
from kfops_action.chatops.handlers import Workspace, pipeline_handlers

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "quickstart"


def git(*args: str, cwd: Path) -> str:
    out = subprocess.run(["git", "-c", "user.name=kfops-test", "-c", "user.email=test@kfops.invalid", *args],
                         cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, str]:
    """The example as a checked-out PR head: a git repository with one commit."""
    repo = tmp_path / "model"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".kfops", "__pycache__"))
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "the PR head", cwd=repo)
    return repo, git("rev-parse", "HEAD", cwd=repo)


def base_text(endpoint: str) -> str:
    """kfops.yaml on the base branch: the example's, pointing at the (fake) Kubeflow."""
    return (EXAMPLE / "kfops.yaml").read_text().replace("https://kubeflow.example.com/pipeline", endpoint)


def go(body: str, repo: Path, head: str, *, base: str | None, env: dict[str, str] | None = None,
       github: FakeGitHub | None = None, wait: bool = True) -> tuple[d.Outcome, FakeGitHub]:
    pull = pull_json()
    pull["head"]["sha"] = head
    github = github or FakeGitHub(pull=pull)
    workspace = Workspace(root=repo, env=env or {}, wait=wait, timeout=30, poll_interval=0.01)
    outcome = dispatch("issue_comment", event(body), github=github, base_config=BaseBranch(base),
                       handlers=pipeline_handlers(workspace), log=lambda m: None)
    return outcome, github


def test_dry_run_compiles_and_checks_parameters_offline(checkout: tuple[Path, str]) -> None:
    repo, head = checkout
    outcome, github = go("/build_run --dry-run --set pipeline.parameters.epochs=5", repo, head, base=None)
    assert outcome.outcome == d.SUCCEEDED, github.comments
    [reply] = github.comments
    assert f"`/build_run --set pipeline.parameters.epochs=5 --dry-run` at `{head[:7]}`: dry run" in reply
    assert "nothing was built, uploaded or run" in reply
    assert "| epochs | 5 | int | override |" in reply
    assert "| learning_rate | 0.1 | float | config |" in reply
    assert github.reactions == ["eyes", "rocket"]


def test_unknown_parameter_from_the_comment_runs_nothing(checkout: tuple[Path, str], fake_kfp: Any) -> None:
    repo, head = checkout
    outcome, github = go("/build_run --set pipeline.parameters.lerning_rate=1", repo, head,
                         base=base_text(fake_kfp.url), env={"KF_PIPELINES_TOKEN": fake_kfp.token})
    assert outcome.outcome == d.FAILED
    assert "unknown parameter 'lerning_rate' (did you mean 'learning_rate'?)" in github.comments[0]
    assert fake_kfp.runs == {} and fake_kfp.versions == {}


def test_checkout_not_at_the_pinned_head_is_refused(checkout: tuple[Path, str]) -> None:
    repo, head = checkout
    outcome, github = go("/run --dry-run", repo, SHA, base=None)  # the PR head moved on
    assert outcome.outcome == d.FAILED
    assert f"the checked-out code is at {head[:7]}, not at the pull request head {SHA[:7]}" in github.comments[0]
    assert "refs/pull/<number>/head" in github.comments[0]


def test_missing_kfops_yaml_in_the_checkout(tmp_path: Path) -> None:
    outcome, github = go("/build", tmp_path, SHA, base=None)
    assert outcome.outcome == d.FAILED
    assert "no kfops.yaml in the checked-out pull request" in github.comments[0]


def test_build_run_on_kubeflow_posts_the_link_then_the_outcome(checkout: tuple[Path, str], fake_kfp: Any) -> None:
    repo, head = checkout
    # The PR's own kfops.yaml still points at kubeflow.example.com (unreachable here): the run
    # reaching the fake proves the kubeflow section came from the base branch.
    outcome, github = go("/build_run --set pipeline.parameters.epochs=5", repo, head,
                         base=base_text(fake_kfp.url), env={"KF_PIPELINES_TOKEN": fake_kfp.token})
    assert outcome.outcome == d.SUCCEEDED, github.comments
    started, finished = github.comments
    assert "run [quickstart-classifier-pr7-" in started and "started" in started
    assert "| epochs | 5 | int | override |" in started
    assert "succeeded" in finished and "| train | SUCCEEDED |" in finished
    assert github.reactions == ["eyes", "rocket"]
    [run] = fake_kfp.runs.values()
    assert run.body["display_name"].startswith(f"quickstart-classifier-pr7-{head[:7]}-")
    spec_params = run.body["runtime_config"]["parameters"]
    assert spec_params["epochs"] == 5
    [version] = fake_kfp.versions.values()
    assert version["display_name"].startswith(head[:7])


def test_build_uploads_a_version_only(checkout: tuple[Path, str], fake_kfp: Any) -> None:
    repo, head = checkout
    outcome, github = go("/build", repo, head, base=base_text(fake_kfp.url),
                         env={"KF_PIPELINES_TOKEN": fake_kfp.token})
    assert outcome.outcome == d.SUCCEEDED, github.comments
    assert "built." in github.comments[0] and "| uploaded | yes |" in github.comments[0]
    assert fake_kfp.runs == {} and len(fake_kfp.versions) == 1


def test_kfp_token_never_reaches_the_pr(checkout: tuple[Path, str], fake_kfp: Any) -> None:
    repo, head = checkout
    fake_kfp.deny(401, f"bad token {fake_kfp.token}")
    outcome, github = go("/run", repo, head, base=base_text(fake_kfp.url), env={"KF_PIPELINES_TOKEN": fake_kfp.token})
    assert outcome.outcome == d.FAILED
    assert fake_kfp.token not in github.comments[0]


def test_cluster_access_settings_come_from_the_base_branch(tmp_path: Path) -> None:
    """A PR may describe its images, not where Kaniko runs or with which secrets."""
    from types import SimpleNamespace

    from kfops_action.chatops.handlers import Workspace, command_config

    (tmp_path / "kfops.yaml").write_text(
        "pipeline: {file: p.py, function: f}\n"
        "kubeflow: {endpoint: 'https://attacker.example'}\n"
        "images:\n  builder: kaniko\n  registry: r.example/acme\n  build: [{name: trainer}]\n"
        "  kaniko: {namespace: kube-system, registry_secret: stolen}\n")
    base = {"pipeline": {"file": "p.py", "function": "f"},
            "kubeflow": {"endpoint": "https://kubeflow.example/pipeline"},
            "images": {"builder": "none", "kaniko": {"namespace": "ml-builds", "registry_secret": "push"}}}
    context = SimpleNamespace(command=SimpleNamespace(sets=()), base=SimpleNamespace(data=base))
    config = command_config(context, Workspace(root=tmp_path))
    assert config.section("kubeflow") == {"endpoint": "https://kubeflow.example/pipeline"}
    assert config.section("images")["kaniko"] == {"namespace": "ml-builds", "registry_secret": "push"}
    assert config.section("images")["build"] == [{"name": "trainer"}]
