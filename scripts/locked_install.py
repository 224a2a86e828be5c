"""Install requirements/action.lock.txt into an environment, every file checked against its hash.

The one way the lock is installed by Python code: the action's `runtime: python` installer
(install-action-python.py) and the release's smoke test (release.py) call `install_lock`; the
Dockerfile runs the same two pip commands in its build stage, and tests/test_action_packaging.py
checks that the three say the same.

Why two steps. `--require-hashes` covers what pip downloads for the requirements, but not what it
fetches into an isolated build environment (pip's build_env installs build requirements with a
pip subprocess that is given no hashes). kfp-server-api publishes only an sdist, whose build needs
setuptools: with build isolation, that setuptools would come from the index unchecked. So
setuptools is pinned by hash too (requirements/build.lock.txt), installed into a throwaway folder,
and the lock is installed with --no-build-isolation and that folder on PYTHONPATH: every file
that reaches the environment or runs during its build is hash-checked, and the build tools are
not left in the environment. kfops itself is built the same way (its build-system needs only
setuptools, whose bdist_wheel is built in), so building it fetches nothing either.

Standard library only: the installer imports this before anything is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only annotations use it: an old Python still reaches the installer's version message
    from collections.abc import Callable

    Runner = Callable[[list[str], dict[str, str] | None], None]

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "action.lock.txt"
BUILD_LOCK = ROOT / "requirements" / "build.lock.txt"
# Wheels only, so no compiler is needed: kfp-server-api has no wheel and is pure Python.
BUILD_TOOLS_ARGS = ("--require-hashes", "--only-binary=:all:")
LOCK_ARGS = ("--require-hashes", "--no-build-isolation", "--only-binary=:all:", "--no-binary=kfp-server-api")
# kfops from its sources: no dependencies (the lock has them), built by the pinned setuptools.
PROJECT_ARGS = ("--no-deps", "--no-build-isolation")


def install_lock(pip: list[str], *, project: Path | None = None, run: Runner | None = None) -> None:
    """Install the lock with `pip` (the command up to `install`'s arguments, e.g.
    [venv/bin/python, -m, pip, install] or [python, -m, pip, --python, venv/bin/python, install]),
    then `project` (a kfops source folder or wheel), if given, without its dependencies.

    `run(command, env)` runs one command and raises when it fails (default: subprocess.run with
    check=True, output to stderr), so each caller keeps its own logging and error type."""
    runner = run or _run
    with tempfile.TemporaryDirectory(prefix="kfops-build-tools-") as tools:
        runner([*pip, *BUILD_TOOLS_ARGS, "--target", tools, "-r", str(BUILD_LOCK)], None)
        env = {**os.environ, "PYTHONPATH": tools}
        runner([*pip, *LOCK_ARGS, "-r", str(LOCK)], env)
        if project is not None:
            runner([*pip, *PROJECT_ARGS, str(project)], env)


def _run(command: list[str], env: dict[str, str] | None) -> None:
    print("+ " + " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, stdout=sys.stderr, env=env)
