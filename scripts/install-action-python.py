"""Install kfops for action.yml's `runtime: python`, with the Python that runs this script.

    python3 scripts/install-action-python.py [CACHE_DIR]
    python3 scripts/install-action-python.py --locate [CACHE_DIR]

prints the `bin` folder of a virtual environment holding the pinned dependencies
(requirements/action.lock.txt, every file checked against its hash: locked_install.py) and kfops
from this copy of the action; action.yml then runs
`<bin>/kfops-action`. Everything pip prints goes to stderr (the job log). `--locate` installs
nothing: it prints, as GITHUB_OUTPUT lines, the environment's folder (`env-dir`) and the
actions/cache key that names it (`cache-key`), so that action.yml restores a cached environment
before this script runs again and finds it installed.

The environment lives in CACHE_DIR/kfops-action/<key> (CACHE_DIR: the argument, else
$RUNNER_TOOL_CACHE, else $RUNNER_TEMP), where the key hashes the interpreter and every file that
is installed. A runner that keeps its tool cache (self-hosted) installs once per kfops version and
Python; a GitHub-hosted runner starts empty and installs on each job. An environment counts only
once its install finished (a marker file written last), so an interrupted install is redone.
A GitHub-hosted runner starts each job with an empty tool cache: there actions/cache carries the
environment from job to job (same path, same interpreter, so the venv's absolute paths hold).

kfops is built from a temporary copy of its sources, so the action's own folder stays as the
runner downloaded it. Standard library only: this runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from locked_install import BUILD_LOCK, LOCK, install_lock  # this script's folder is on sys.path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "kfops_action")
MARKER = ".kfops-installed"


def installed_files() -> list[Path]:
    files = [ROOT / "pyproject.toml", ROOT / "README.md", LOCK, BUILD_LOCK,
             Path(__file__).resolve().with_name("locked_install.py")]
    files += sorted(p for p in (ROOT / "kfops_action").rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    return files


def key() -> str:
    digest = hashlib.sha256()
    digest.update(f"{sys.version}\0{os.path.realpath(sys.executable)}\0".encode())
    for path in installed_files():
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_dir(argv: list[str]) -> Path:
    chosen = (argv[1] if len(argv) > 1 else "") or os.environ.get("RUNNER_TOOL_CACHE") \
        or os.environ.get("RUNNER_TEMP") or tempfile.gettempdir()
    return Path(chosen)


def install(target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, stdout=sys.stderr)
    python = target / "bin" / "python"
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", "install"]
    with tempfile.TemporaryDirectory(prefix="kfops-src-") as tmp:
        for name in SOURCES:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, Path(tmp) / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, Path(tmp) / name)
        install_lock(pip, project=Path(tmp))
    (target / MARKER).write_text(f"{sys.version}\n", encoding="utf-8")


def cache_key() -> str:
    """Names the environment across runners: the key hashes the interpreter's version and path
    (the venv points at it) and what is installed; the platform keeps Linux/macOS/arm apart."""
    import platform

    return f"kfops-action-{sys.platform}-{platform.machine().lower()}-{key()}"


def main(argv: list[str]) -> int:
    locate = "--locate" in argv[1:]
    argv = [a for a in argv if a != "--locate"]
    if sys.version_info < (3, 11):
        print(f"kfops needs Python 3.11 or newer; {sys.executable} is {sys.version.split()[0]} "
              "(set the action's `python` input, e.g. after actions/setup-python)", file=sys.stderr)
        return 2
    target = cache_dir(argv) / "kfops-action" / key()
    if locate:
        print(f"env-dir={target}\ncache-key={cache_key()}")
        return 0
    if (target / MARKER).is_file():
        print(f"kfops is already installed in {target}", file=sys.stderr)
    else:
        try:
            install(target)
        except subprocess.CalledProcessError as exc:
            print(f"installing kfops into {target} failed: {exc}", file=sys.stderr)
            return 1
    print(target / "bin")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
