"""Shared by the packaging and end-to-end tests (one of each per test process): the action as a
workflow downloads it, the action as a release publishes it (its image pinned by digest), and its
`runtime: python` environment installed on this machine from the pinned lock by the action's own
installer (scripts/install-action-python.py), for the packaging tests that inspect it. The
end-to-end jobs install their own, in their containers."""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .act import export_action

_state: dict[str, Path] = {}


class InstallFailed(AssertionError):
    pass


def _scratch() -> Path:
    if "scratch" not in _state:
        _state["scratch"] = Path(tempfile.mkdtemp(prefix="kfops-action-e2e-"))
        atexit.register(shutil.rmtree, _state["scratch"], True)
    return _state["scratch"]


def action_dir() -> Path:
    """The action's files, exported once per test process."""
    if "action" not in _state:
        _state["action"] = export_action(_scratch() / "kfops-action")
    return _state["action"]


def pinned_action_dir(image: str) -> Path:
    """The action as a release publishes it: its files with `image` pinned into action.yml by the
    release's own script (scripts/release.py pin-image), exported once per test process."""
    if "pinned" not in _state:
        target = export_action(_scratch() / "kfops-action-release")
        script = target / "scripts" / "release.py"
        done = subprocess.run([sys.executable, str(script), "pin-image", str(target / "action.yml"), image],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise InstallFailed(f"release.py pin-image failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        _state["pinned"] = target
    return _state["pinned"]


def act_cache_home() -> Path:
    """XDG_CACHE_HOME for act (its own state) and the folder the tests keep their stores in."""
    path = _scratch() / "xdg-cache"
    path.mkdir(exist_ok=True)
    return path


def runner_python() -> str:
    """This machine's python3, which the installer runs with."""
    found = shutil.which("python3")
    if found is None:
        raise InstallFailed("no python3 on PATH")
    return found


def python_runtime() -> Path:
    """The `bin` folder of the action's python-runtime environment (installed on first use)."""
    if "bin" not in _state:
        script = action_dir() / "scripts" / "install-action-python.py"
        tool_cache = _scratch() / "tool_cache"
        done = subprocess.run([runner_python(), str(script), str(tool_cache)], capture_output=True, text=True,
                              timeout=900)
        if done.returncode != 0:
            raise InstallFailed(f"installing the action's pinned environment failed ({done.returncode}):\n"
                                f"{done.stderr[-6000:]}")
        _state["bin"] = Path(done.stdout.strip().splitlines()[-1])
    return _state["bin"]
