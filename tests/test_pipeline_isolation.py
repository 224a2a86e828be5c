"""Pull-request code never holds deploy credentials (issue 14, item 1).

A hostile pipeline.py tries, at import time, to read every credential the kfops process holds
(the GitHub token, the Kubeflow token and cookie, the action's inputs, the Actions runtime and
OIDC tokens, the kubeconfig through KUBECONFIG and ~/.kube/config, cloud keys, the parent's
/proc environ) and to carry it out in a file and in a parameter default of the compiled package.
It is compiled through the real entries: `compile_from_config` (kfc and the Action), the
Action's `/build --dry-run` against the fake GitHub, and `kfc validate` as a subprocess (so the
secrets are in the parent's real process environment, as in a job).
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import kfc
from fakes.action_flow import make_checkout
from fakes.github_prism import GitHubEndpoint, github  # noqa: F401

from kfops_action.chatops import dispatch as d
from kfops_action.config import load_config
from kfops_action.errors import PipelineError
from kfops_action.handlers.build import compile_from_config

SECRETS = {
    "GITHUB_TOKEN": "ghs_isolation-github-token-5f1d",
    "KF_PIPELINES_TOKEN": "kf-isolation-bearer-9a2c",
    "KF_PIPELINES_COOKIE": "authservice_session=kf-isolation-cookie-77e0",
    "INPUT_GITHUB-TOKEN": "ghs_isolation-input-token-31bb",
    "INPUT_REGISTRY-PASSWORD": "isolation-registry-password-c4d2",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "isolation-oidc-request-token-0e9f",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://isolation-oidc.invalid/token?secret=8d1a",
    "ACTIONS_RUNTIME_TOKEN": "isolation-runtime-token-6b3e",
    "AWS_SECRET_ACCESS_KEY": "isolation-aws-secret-2c7d",
    "GOOGLE_APPLICATION_CREDENTIALS": "/isolation/gcp-key-4e8b.json",
    "DEPLOY_API_TOKEN": "isolation-other-token-a1f0",
    "DB_PASSWORD": "isolation-db-password-93c5",
}
KUBECONFIG_SECRET = "isolation-kubeconfig-in-KUBECONFIG-1d6a"
HOME_KUBECONFIG_SECRET = "isolation-kubeconfig-in-home-ae42"
ALL_SECRETS = [*SECRETS.values(), KUBECONFIG_SECRET, HOME_KUBECONFIG_SECRET]

# Runs at import time of the pull request's pipeline.py. Writes what it found to SPY and keeps it
# in LEAK, which the hostile pipeline below puts into a parameter default.
SPY_CODE = """
import json as _json, os as _os, pathlib as _pathlib

_found = {{name: _os.environ.get(name) for name in {names!r}}}
_found["environ"] = dict(_os.environ)
_found["home"] = str(_pathlib.Path.home())
_paths = [_pathlib.Path.home() / ".kube" / "config"]
if _os.environ.get("KUBECONFIG"):
    _paths.append(_pathlib.Path(_os.environ["KUBECONFIG"]))
for _path in _paths:
    try:
        _found[str(_path)] = _path.read_text()
    except OSError as _exc:
        _found[str(_path)] = "unreadable: " + repr(_exc)
try:
    with open(f"/proc/{{_os.getppid()}}/environ", "rb") as _proc:
        _found["parent_environ"] = _proc.read().decode("utf-8", "replace")
except OSError as _exc:
    _found["parent_environ"] = "unreadable: " + repr(_exc)
LEAK = _json.dumps(_found)
_pathlib.Path({spy!r}).write_text(LEAK)
"""

HOSTILE_PIPELINE = """
from kfp import dsl


@dsl.component
def echo(text: str) -> str:
    return text


@dsl.pipeline(name="hostile")
def hostile(leak: str = LEAK):
    echo(text=leak)
"""


def spy_code(spy: Path) -> str:
    return textwrap.dedent(SPY_CODE.format(names=sorted(SECRETS) + ["KUBECONFIG"], spy=str(spy)))


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every credential a job holds, in this process's environment; a kubeconfig both through
    KUBECONFIG and in (a fake) ~/.kube/config. Returns the spy file's path."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    kubeconfig = tmp_path / "secrets" / "kubeconfig"
    kubeconfig.parent.mkdir()
    kubeconfig.write_text(f"users:\n- name: ci\n  user:\n    token: {KUBECONFIG_SECRET}\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(f"users:\n- name: me\n  user:\n    token: {HOME_KUBECONFIG_SECRET}\n")
    monkeypatch.setenv("HOME", str(home))
    return tmp_path / "spy.json"


def hostile_project(where: Path, spy: Path) -> Path:
    project = where / "project"
    project.mkdir()
    (project / "pipeline.py").write_text(spy_code(spy) + HOSTILE_PIPELINE)
    (project / "kfops.yaml").write_text("version: 1\npipeline:\n  file: pipeline.py\n  function: hostile\n"
                                        "  name: hostile\n")
    return project / "kfops.yaml"


def assert_nothing_found(spy: Path, *texts: str) -> dict[str, Any]:
    assert spy.is_file(), "the hostile pipeline did not run"
    found = json.loads(spy.read_text())
    for text in (spy.read_text(), *texts):
        leaked = [secret for secret in ALL_SECRETS if secret in text]
        assert leaked == [], f"pull-request code got {leaked}"
    assert found["KUBECONFIG"] is None and found["home"] != os.environ["HOME"]
    return found


def test_compile_from_config_gives_the_pipeline_no_secrets(tmp_path: Path, secrets: Path) -> None:
    config = load_config(hostile_project(tmp_path, secrets))
    package = compile_from_config(config)
    found = assert_nothing_found(secrets, package.path.read_text())
    assert "leak" in package.parameters  # the default was compiled in: it just holds nothing
    assert not any(k.startswith(("GITHUB_", "INPUT_", "ACTIONS_", "KF_PIPELINES")) for k in found["environ"])


def test_action_dry_run_build_gives_the_pipeline_no_secrets(github: GitHubEndpoint,  # noqa: F811
                                                            tmp_path: Path, secrets: Path) -> None:
    from fakes.action_flow import PullRequest

    def make_hostile(repo: Path) -> None:
        source = (repo / "pipeline.py").read_text()
        (repo / "pipeline.py").write_text(source + spy_code(secrets))

    repo, head = make_checkout(tmp_path, make_hostile)
    pr = PullRequest(github, "http://127.0.0.1:9", SECRETS["KF_PIPELINES_TOKEN"], repo, head,
                     summary=tmp_path / "summary.md")
    outcome = pr.comment("/build --dry-run")
    assert outcome.outcome == d.SUCCEEDED, pr.logs
    package = repo / ".kfops" / "build" / "pipeline.yaml"
    posted = [json.dumps(r.body) for r in pr.fake.requests if r.body is not None]
    assert_nothing_found(secrets, package.read_text(), *posted, *pr.logs)


def test_kfc_gives_the_pipeline_no_secrets_even_through_proc(tmp_path: Path, secrets: Path) -> None:
    """kfc as a job runs it: the secrets are in kfc's own process environment (what
    /proc/<kfc>/environ shows), not only in os.environ."""
    config = hostile_project(tmp_path, secrets)
    env = {**SECRETS, "KUBECONFIG": os.environ["KUBECONFIG"], "HOME": os.environ["HOME"]}
    result = kfc("validate", "-c", str(config), cwd=config.parent, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    found = assert_nothing_found(secrets, (config.parent / ".kfops" / "build" / "pipeline.yaml").read_text(),
                                 result.stdout, result.stderr)
    if sys.platform == "linux":
        assert found["parent_environ"].startswith("unreadable"), "the child read kfc's /proc environ"


# -- the child process itself ---------------------------------------------------------------------


def test_child_environment_is_an_allow_list(tmp_path: Path) -> None:
    from kfops_action.pipeline.isolated import child_environment

    parent = {**SECRETS, "KUBECONFIG": "/k", "PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8",
              "LC_ALL": "C.UTF-8", "TMPDIR": "/var/tmp", "PYTHONPATH": "/elsewhere", "PYTHONSTARTUP": "/x.py",
              "SSH_AUTH_SOCK": "/tmp/agent", "DOCKER_CONFIG": "/d", "GIT_ASKPASS": "/a", "RUNNER_TEMP": "/r"}
    env = child_environment(parent, home=tmp_path / "h", tmp=tmp_path / "t")
    assert env["PATH"] == "/usr/bin" and env["LANG"] == env["LC_ALL"] == "C.UTF-8"
    assert env["HOME"] == str(tmp_path / "h") and env["TMPDIR"] == str(tmp_path / "t")
    assert set(env) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PYTHONPATH", "PYTHONIOENCODING",
                        "PYTHONDONTWRITEBYTECODE"}
    assert "/elsewhere" not in env.get("PYTHONPATH", "")


def test_errors_come_back_located(tmp_path: Path) -> None:
    from kfops_action.pipeline.isolated import compile_isolated

    file = tmp_path / "pipeline.py"
    file.write_text("from kfp import dsl\n\n\nraise RuntimeError('boom')\n")
    with pytest.raises(PipelineError) as caught:
        compile_isolated(file, "p", tmp_path / "out.yaml")
    assert "RuntimeError: boom" in caught.value.what and not (tmp_path / "out.yaml").exists()
    assert [str(p) for p in caught.value.problems] == [f"{file}:4: raised here"]
    assert caught.value.fix and "python" in caught.value.fix


def test_a_pipeline_that_hangs_is_stopped(tmp_path: Path) -> None:
    from kfops_action.pipeline.isolated import compile_isolated

    file = tmp_path / "pipeline.py"
    file.write_text("import time\ntime.sleep(60)\n")
    with pytest.raises(PipelineError) as caught:
        compile_isolated(file, "p", tmp_path / "out.yaml", timeout=1.0)
    assert "did not finish within 1 s" in caught.value.what and caught.value.fix


def test_a_pipeline_that_exits_is_an_error_not_a_success(tmp_path: Path) -> None:
    from kfops_action.pipeline.isolated import compile_isolated

    file = tmp_path / "pipeline.py"
    file.write_text("import os, sys\nprint('bye', file=sys.stderr)\nos._exit(3)\n")
    with pytest.raises(PipelineError) as caught:
        compile_isolated(file, "p", tmp_path / "out.yaml")
    assert "exit code 3" in caught.value.what and "bye" in str(caught.value)


class _Quiet:
    def progress(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass


def test_only_a_local_run_compiles_in_process(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every compile goes through the credential-less child, except `kfc build-run --local`, where
    kfp.local then runs the pipeline's components in kfc's own process and environment anyway."""
    from kfops_action.config.loader import load_config
    from kfops_action.handlers import build
    from kfops_action.handlers.pipeline import execute

    isolated: list[Path] = []
    real = build.compile_isolated

    def spy(file: Path, *args: Any, **kwargs: Any) -> Any:
        isolated.append(file)
        return real(file, *args, **kwargs)

    monkeypatch.setattr(build, "compile_isolated", spy)
    config = load_config(project / "kfops.yaml")
    execute("build_run", config, remote=None, reporter=_Quiet())          # the dry run of /build_run
    execute("build", config, remote=None, reporter=_Quiet(), local=True)  # nothing runs locally
    assert len(isolated) == 2
    outcome = execute("build_run", config, remote=None, reporter=_Quiet(), local=True)
    assert len(isolated) == 2 and outcome.local is not None and len(outcome.local.tasks) == 3
