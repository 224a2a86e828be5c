"""What `kfc init` can tell about a repository without asking: its pipelines, Dockerfiles, name.

Pipelines are found by reading the source (the `ast` module), not by importing it: importing a
user's module runs its top-level code and needs its dependencies installed, and `kfc init` must
work in a fresh clone before anything else is set up.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SKIP_DIRS = frozenset({".git", ".github", ".venv", "venv", "env", ".env", "node_modules", "site-packages",
                       "build", "dist", ".kfops", "__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
                       ".ipynb_checkpoints"})
MAX_FILES = 2000
MAX_BYTES = 1_000_000
_K8S_NAME = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class PipelineFunction:
    """A `@dsl.pipeline` function: `file` relative to the repository root."""

    file: str
    function: str
    kfp_v1: bool = False  # kfp 1.x style (kfp.v2 imports, ContainerOp, create_component_from_func)

    @property
    def spec(self) -> str:
        return f"{self.file}:{self.function}"


def python_files(root: Path) -> Iterator[Path]:
    count = 0
    for path in sorted(root.rglob("*.py")):
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in path.relative_to(root).parts[:-1]):
            continue
        count += 1
        if count > MAX_FILES:
            return
        yield path


def find_pipelines(root: Path) -> list[PipelineFunction]:
    """Every function decorated with `pipeline` (`@dsl.pipeline`, `@kfp.dsl.pipeline(...)`, ...)."""
    found: list[PipelineFunction] = []
    for path in python_files(root):
        try:
            if path.stat().st_size > MAX_BYTES:
                continue
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=str(path))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        legacy = _looks_like_kfp_v1(source)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                    _is_pipeline_decorator(d) for d in node.decorator_list):
                found.append(PipelineFunction(path.relative_to(root).as_posix(), node.name, legacy))
    return found


def _is_pipeline_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id == "pipeline"
    return isinstance(target, ast.Attribute) and target.attr == "pipeline"


def _looks_like_kfp_v1(source: str) -> bool:
    return bool(re.search(r"\bkfp\.v2\b|from kfp\.v2|ContainerOp|create_component_from_func|"
                          r"func_to_container_op|kfp\.components\.load_component_from", source))


def find_dockerfiles(root: Path) -> list[str]:
    """Dockerfiles in the repository (relative paths), outside vendored and build folders."""
    found = []
    for path in sorted(root.rglob("Dockerfile*")):
        rel = path.relative_to(root)
        if path.is_file() and not any(part in SKIP_DIRS for part in rel.parts[:-1]) \
                and not path.name.endswith((".dockerignore", ".md")):
            found.append(rel.as_posix())
    return found


def kubernetes_name(text: str, fallback: str = "model", *, start_with_letter: bool = True) -> str:
    """`My_Model v2` -> `my-model-v2`: a valid DNS-1123 label (63 characters at most)."""
    name = _K8S_NAME.sub("-", text.lower()).strip("-")[:63].strip("-")
    if start_with_letter and name and not name[0].isalpha():
        name = ("m-" + name)[:63].strip("-")
    return name or fallback


def git_remote(root: Path) -> str | None:
    """`owner/repo` of the origin remote on GitHub, when there is one."""
    try:
        out = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"github\.com[:/]([^/\s]+)/([^/\s]+?)(?:\.git)?/?$", out.stdout.strip())
    return f"{match.group(1)}/{match.group(2)}" if match else None


def is_git_repository(root: Path) -> bool:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == "true"
