"""`kfc comment` as a user runs it, and proof that it decides exactly as the Action does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakes.github_prism import github  # noqa: F401  (fixture)
from test_chatops_dispatch import BaseBranch, FakeGitHub, pull_json, run
from test_chatops_handlers import checkout, make_pr, one_status_comment  # noqa: F401  (checkout: fixture)

from kfops_action.chatops.base_config import parse_base_config
from kfops_action.chatops.preview import preview
from kfops_action.errors import ExitCode

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "examples" / "quickstart" / "kfops.yaml"


def kfc(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KF_PIPELINES", "GITHUB_"))}
    return subprocess.run([sys.executable, "-m", "kfops_action.cli", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_allowed_build_run(tmp_path: Path) -> None:
    result = kfc("comment", "/build-run --set pipeline.parameters.epochs=5", "--user", "alice", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "command:       /build_run --set pipeline.parameters.epochs=5" in out
    assert "arguments:     --set pipeline.parameters.epochs=5" in out
    assert "needs:         write (default)" in out
    assert "allowed:       yes: alice has write; /build_run needs write" in out
    assert "permissions:   the defaults (no kfops.yaml on the base branch)" in out
    assert "start a run on Kubeflow" in out
    assert "pipeline:      not checked: no kfops.yaml here" in out  # nothing to compile in an empty folder
    assert result.stderr == ""


def test_refused_deploy_with_the_projects_config(tmp_path: Path) -> None:
    result = kfc("comment", "/deploy --run-id 8d1c", "--user", "alice", "--permission", "write",
                 "-c", str(EXAMPLE_CONFIG), cwd=tmp_path)
    assert result.returncode == ExitCode.DENIED == 5, result.stderr
    assert "needs:         maintain (chatops.commands.deploy.permission)" in result.stdout
    assert "allowed:       no: needs maintain" in result.stdout
    assert "reply:\n<!-- kfops -->\n@alice cannot run /deploy here: it needs maintain, alice has write." in result.stdout


def test_reads_kfops_yaml_of_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "kfops.yaml").write_text("pipeline: {file: p.py, function: f}\n"
                                         "chatops:\n  commands:\n    run: {permission: admin}\n")
    result = kfc("comment", "/run", "--user", "bob", "--permission", "maintain", cwd=tmp_path)
    assert "it needs admin, bob has maintain" in result.stdout
    assert "permissions:   kfops.yaml" in result.stdout


def test_invalid_config_is_reported_like_kfc_validate(tmp_path: Path) -> None:
    (tmp_path / "kfops.yaml").write_text("pipeline: {file: p.py, function: f}\nchatops: {alow_forks: true}\n")
    result = kfc("comment", "/run", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown key 'alow_forks' (did you mean 'allow_forks'?)" in result.stderr


def test_multi_line_comment_from_stdin_with_crlf(tmp_path: Path) -> None:
    text = "\r\n/run --dry-run\r\n\r\nChecking the new parameters before a real run.\r\n"
    result = kfc("comment", "-", "--user", "alice", cwd=tmp_path, stdin=text)
    assert result.returncode == 0, result.stderr
    assert "command:       /run --dry-run" in result.stdout
    assert "free text:     1 line(s), not read by kfops" in result.stdout
    assert "build, upload and run nothing" in result.stdout
    # the same text as one argument, CRLF kept as the browser sent it
    result = kfc("comment", text + "second line\r\n", "--user", "alice", cwd=tmp_path)
    assert "command:       /run --dry-run" in result.stdout
    assert "free text:     2 line(s), not read by kfops" in result.stdout


def test_fork(tmp_path: Path) -> None:
    result = kfc("comment", "/build", "--user", "mallory", "--permission", "admin", "--fork", cwd=tmp_path)
    assert "allowed:       no: refused on pull requests from forks" in result.stdout
    assert "chatops.allow_forks: true" in result.stdout


def test_team_membership(tmp_path: Path) -> None:
    (tmp_path / "kfops.yaml").write_text("pipeline: {file: p.py, function: f}\n"
                                         "chatops:\n  commands:\n    deploy: {teams: [acme/release]}\n")
    result = kfc("comment", "/deploy", "--user", "carol", "--team", "acme/release", cwd=tmp_path)
    assert "allowed:       yes: carol is a member of acme/release" in result.stdout
    assert "roll the run's model out to production with KServe" in result.stdout
    assert "merge the pull request at the pinned head" in result.stdout


@pytest.mark.parametrize(("text", "expected"), [
    ("> /deploy", "not a command: the first line is a quote (>)"),
    ("\uff0fdeploy", "U+FF0F FULLWIDTH SOLIDUS"),
    ("please /build", "/build is in the middle of the first line"),
    ("/depoly", "near miss:     /depoly is not a kfops command; did you mean /deploy?"),
    ("/run 'oops", "arguments:     refused: the arguments cannot be split: no closing quotation"),
])
def test_what_is_not_run(tmp_path: Path, text: str, expected: str) -> None:
    result = kfc("comment", text, "--user", "alice", cwd=tmp_path)
    assert result.returncode == ExitCode.BAD_INPUT, result.stderr
    assert expected in result.stdout


def test_help_is_listed(tmp_path: Path) -> None:
    result = kfc("--help", cwd=tmp_path)
    assert "comment" in result.stdout and "show what the Action would do" in result.stdout
    result = kfc("comment", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "usage: kfc comment" in result.stdout


def test_comment_imports_nothing_heavy_without_a_config(tmp_path: Path) -> None:
    code = ("import sys\nfrom kfops_action import cli\ncli.main(['comment', '/build_run', '--user', 'a'])\n"
            "print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & "
            "{'kfp', 'kubernetes', 'jsonschema', 'yaml', 'requests'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


# --- the same decision as the Action ----------------------------------------------------------

CONFIG = ("pipeline: {file: p.py, function: f}\nchatops:\n  commands:\n    deploy: {permission: admin}\n"
          "    status: {permission: triage}\n")


@pytest.mark.parametrize("text", ["/deploy", "/help", "/build --set pipeline.parameters.x=1", "/depoly",
                                  "/run --set deployment.x=1", "/status", "/cancel --run-id r1",
                                  "/staging_deploy --dry-run"])
@pytest.mark.parametrize("level", ["none", "read", "write", "maintain", "admin"])
@pytest.mark.parametrize("fork", [False, True])
def test_preview_reply_is_what_the_action_posts(text: str, level: str, fork: bool) -> None:
    github = FakeGitHub(permissions={"alice": level},
                        pull=pull_json(head_repo="alice/REPO" if fork else "acme/model"))
    _, github, _, handlers = run(text, github=github, base=BaseBranch(CONFIG))
    shown = preview(text, user="alice", level=level, fork=fork, base=parse_base_config(CONFIG, ref="main"))
    if any(h.contexts for h in handlers.values()):  # the Action ran a handler: kfc comment says what it would do
        assert "reply:" not in shown and "would react with eyes at once; " in shown
    else:                                            # the Action answered: kfc comment shows that very reply
        [posted] = github.comments
        assert shown.endswith("reply:\n" + posted.rstrip("\n")), shown


# --- --set checked against the pipeline, as the Action checks it ------------------------------


def test_unknown_parameter_is_refused_with_the_actions_reason(project: Path) -> None:
    result = kfc("comment", "/build_run --set pipeline.parameters.lerning_rate=1", "--user", "alice", cwd=project)
    assert result.returncode == ExitCode.BAD_INPUT
    assert "allowed:       yes" in result.stdout  # allowed, and still refused: by the pipeline
    assert "pipeline:      refused: the Action would reply with this error" in result.stdout
    assert "unknown parameter 'lerning_rate' (did you mean 'learning_rate'?)" in result.stdout
    assert not (project / ".kfops" / "local").exists()


def test_good_parameters_show_the_table_the_run_would_get(project: Path) -> None:
    result = kfc("comment", "/run --set pipeline.parameters.epochs=5", cwd=project)
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    assert "pipeline:      quickstart-classifier compiles and its parameters check" in result.stdout
    assert "epochs         5      int    yes" in result.stdout
    skipped = kfc("comment", "/run --set pipeline.parameters.lerning_rate=1", "--no-compile", cwd=project)
    assert skipped.returncode == ExitCode.OK and "pipeline:" not in skipped.stdout


def test_wrong_type_from_another_config_file(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = kfc("comment", "/run --set pipeline.parameters.epochs=many", "-c", str(project / "kfops.yaml"),
                 cwd=elsewhere)
    assert result.returncode == ExitCode.BAD_INPUT
    assert "parameter 'epochs' must be int, got 'many'" in result.stdout


# The Action itself (the real dispatcher and handlers, a git checkout at the pinned head, the fake
# KFP and the fake GitHub) and `kfc comment` in that same checkout must agree on every comment.
@pytest.mark.parametrize(("comment", "refused_with"), [
    ("/build_run --set pipeline.parameters.lerning_rate=1", "unknown parameter 'lerning_rate'"),
    ("/run --set pipeline.parameters.epochs=many", "parameter 'epochs' must be int, got 'many'"),
    ("/run --dry-run --set pipeline.parameters.epochs=5", None),
    ("/build --set pipeline.parameters.nope=1", None),  # /build compiles; it never reads parameters
])
def test_kfc_comment_agrees_with_the_action(comment: str, refused_with: str | None, github: Any, fake_kfp: Any,
                                            checkout: tuple[Path, str], tmp_path: Path) -> None:
    from kfops_action.chatops import dispatch as d

    pr = make_pr(github, fake_kfp.url, fake_kfp.token, checkout, tmp_path)
    outcome = pr.comment(comment)
    preview_result = kfc("comment", comment, "--user", "alice", cwd=checkout[0])
    if refused_with is None:
        assert outcome.outcome == d.SUCCEEDED, pr.logs
        assert preview_result.returncode == ExitCode.OK, preview_result.stdout
    else:
        assert outcome.outcome == d.FAILED and refused_with in one_status_comment(pr)
        assert preview_result.returncode == ExitCode.BAD_INPUT and refused_with in preview_result.stdout
