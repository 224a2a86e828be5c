"""Compile the user's pipeline in a child process that holds no credentials.

Importing pipeline.py runs it, and under the Action that file comes from a pull request anyone
can open. kfops itself holds the GitHub token, the Kubeflow token or cookie, the action's inputs
(registry password ...), the Actions runtime and OIDC request tokens and a kubeconfig; none of
them may reach that code. So the import and the compile happen in a child:

- environment: an allow-list (PATH, the locale, PYTHONPATH for the kfops and kfp this process
  runs), HOME and TMPDIR pointed at fresh empty folders: no KUBECONFIG, no ~/.kube/config, no
  tokens, no cloud credentials, whatever their names;
- working directory: the pipeline file's folder; stdin closed; its own session, killed as a
  group when it ends or overruns its timeout;
- this process made undumpable first (hardening.py), so the child cannot read the secrets back
  from /proc/<parent>/environ.

The child writes the package into a private folder; this process reads and checks it and only
then copies it where the config says. Errors come back as JSON (compile_worker.py) and are
raised here as the PipelineError the user would have seen from an in-process compile.

kfc uses the same path (one code path; it costs one interpreter start, ~0.5 s, on a compile
that already takes ~1 s).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import PipelineError, Problem
from .compile_worker import error_from_json
from .package import PipelinePackage, land_package
from .source import require_pipeline_file

DEFAULT_TIMEOUT = 300.0
KEPT = ("PATH", "LANG", "LANGUAGE", "TZ", "SYSTEMROOT")  # SYSTEMROOT: Python needs it on Windows
LOG_TAIL = 12


def child_environment(parent: Mapping[str, str], *, home: Path, tmp: Path,
                      path: Sequence[str] | None = None) -> dict[str, str]:
    """An allow-list, never a deny-list: a secret under a name nobody thought of stays out too.

    PYTHONPATH is this process's own import path (not the inherited variable), so the child
    imports exactly the kfops and kfp this process runs, even from a user site that the new
    HOME would hide.
    """
    env = {k: v for k, v in parent.items() if k in KEPT or k.startswith("LC_")}
    env.update(HOME=str(home), TMPDIR=str(tmp), PYTHONIOENCODING="utf-8")
    entries = [p for p in (sys.path if path is None else path) if p and os.path.isabs(p) and os.path.isdir(p)]
    if entries:
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(entries))
    return env


def compile_isolated(file: Path, function: str, out: Path, *,
                     timeout: float = DEFAULT_TIMEOUT) -> PipelinePackage:
    """Import `file`, compile `function` to `out`, in a child without credentials."""
    from .hardening import make_undumpable

    require_pipeline_file(file)
    file = file.absolute()  # as given otherwise: error messages name the path the config names
    make_undumpable()
    with tempfile.TemporaryDirectory(prefix="kfops-compile-") as scratch:
        root = Path(scratch)
        for name in ("home", "tmp", "out"):
            (root / name).mkdir()
        staged, result, log = root / "out" / "pipeline.yaml", root / "result.json", root / "child.log"
        command = [sys.executable, "-P", "-m", "kfops_action.pipeline.compile_worker",
                   str(file), function, str(staged), str(result)]
        env = child_environment(os.environ, home=root / "home", tmp=root / "tmp")
        code = _run(command, file.parent, env, log, timeout, file)
        _raise_unless_ok(result, code, log, file)
        # what the child wrote is checked before it lands in the project
        return land_package(out, lambda path: shutil.copyfile(staged, path))


def _run(command: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float, file: Path) -> int:
    with log.open("wb") as sink:
        try:
            child = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise PipelineError(f"cannot start the pipeline compiler for {file}: {exc.strerror or exc}",
                                fix=f"check that {cwd} is a readable folder") from None
        try:
            return child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PipelineError(f"compiling {file} did not finish within {timeout:g} s",
                                fix="importing the pipeline file must only define the pipeline: move "
                                    "downloads, training or waiting into components") from None
        finally:
            _kill_group(child)


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    """The child and anything it started: nothing of the pull request's outlives the compile."""
    if hasattr(os, "killpg"):
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            pass
    elif child.poll() is None:
        child.kill()
    child.wait()


def _raise_unless_ok(result: Path, code: int, log: Path, file: Path) -> None:
    try:
        outcome = json.loads(result.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        outcome = None
    if isinstance(outcome, dict) and outcome.get("ok") is True:
        return  # the package itself is checked next
    if isinstance(outcome, dict) and "error" in outcome:
        raise error_from_json(outcome["error"])
    tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-LOG_TAIL:]
    raise PipelineError(f"compiling {file} ended without a result (exit code {code})",
                        [Problem(line) for line in tail],
                        fix="the pipeline file must not exit or kill its process at import time; "
                            f"run `python {file}` to see what happens")
