"""A Docker-compatible container engine for the Action's end-to-end tests, and the two images
they need: the runner's (the job container act starts, standing in for GitHub's Ubuntu runner)
and kfops' own (built from the Dockerfile, as the release builds it).

The engine: test-infra's start-container-engine.sh (rootful Podman serving Docker's API; it also
makes the base image the Dockerfile names, from Debian packages, since no container registry is
reachable). KFOPS_TEST_INFRA points at test-infra elsewhere; on a machine with a Docker engine of
its own, set DOCKER_HOST and the script is not needed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "python:3.11-slim-bookworm"
RUNNER_IMAGE = "kfops-e2e-runner:1"
KFOPS_REPOSITORY = "ghcr.io/kfops/action"
HOW_TO = ("needs a Docker-compatible engine and the base image python:3.11-slim-bookworm: run "
          "`eval \"$(../shared/test-infra/start-container-engine.sh)\"` (Podman from Debian packages; "
          "KFOPS_TEST_INFRA points at test-infra elsewhere), or set DOCKER_HOST to a Docker engine that has "
          "that image")

# The job container: GitHub's Ubuntu runner has git and the docker CLI; the base image has
# neither. The CLI is the one this machine talks to the engine with (a static binary).
RUNNER_DOCKERFILE = f"""FROM {BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*
COPY docker /usr/local/bin/docker
"""

_state: dict[str, str] = {}


class EngineUnavailable(Exception):
    pass


def _infra_script() -> Path | None:
    explicit = os.environ.get("KFOPS_TEST_INFRA")
    folder = Path(explicit) if explicit else ROOT.parent / "shared" / "test-infra"
    script = folder / "start-container-engine.sh"
    return script if script.is_file() else None


def docker(*args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "DOCKER_HOST": engine()})
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done


def engine() -> str:
    """DOCKER_HOST of a running engine that has the base image (started on first use)."""
    if "host" in _state:
        return _state["host"]
    if shutil.which("docker") is None:
        raise EngineUnavailable("no docker CLI on PATH")
    host = os.environ.get("DOCKER_HOST", "")
    script = _infra_script()
    if script is not None:
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise EngineUnavailable(f"{script} failed: {done.stderr[-2000:]}")
        host = done.stdout.strip().rsplit("DOCKER_HOST=", 1)[-1]
    if not host:
        raise EngineUnavailable("no DOCKER_HOST and no start-container-engine.sh")
    probe = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, text=True,
                           timeout=60, env={**os.environ, "DOCKER_HOST": host})
    if probe.returncode != 0:
        raise EngineUnavailable(f"the engine at {host} has no {BASE_IMAGE}: {probe.stderr[-500:]}")
    _state["host"] = host
    return host


def runner_image() -> str:
    """The job container's image (built once per engine)."""
    if docker("image", "inspect", RUNNER_IMAGE, check=False).returncode != 0:
        with tempfile.TemporaryDirectory(prefix="kfops-runner-image-") as context:
            shutil.copy2(shutil.which("docker") or "docker", Path(context) / "docker")
            (Path(context) / "Dockerfile").write_text(RUNNER_DOCKERFILE, encoding="utf-8")
            docker("build", "--network", "host", "--tag", RUNNER_IMAGE, context)
    return RUNNER_IMAGE


def kfops_image() -> str:
    """kfops' image built from the Dockerfile of this work tree, as `ghcr.io/kfops/action@sha256:...`:
    the form a release pins into action.yml. The engine fills RepoDigests for a local build."""
    if "image" not in _state:
        from .act import export_action

        tag = f"{KFOPS_REPOSITORY}:e2e"
        with tempfile.TemporaryDirectory(prefix="kfops-image-context-") as context:
            export_action(Path(context))  # what a clean checkout holds, not this tree's .venv
            docker("build", "--network", "host", "--tag", tag, context)
        found = docker("image", "inspect", "--format", "{{json .RepoDigests}}", tag).stdout
        pinned = [d for d in json.loads(found) if d.startswith(KFOPS_REPOSITORY + "@sha256:")]
        if not pinned:
            raise AssertionError(f"the engine gave {tag} no digest under {KFOPS_REPOSITORY}: {found}")
        _state["image"] = pinned[0]
    return _state["image"]
