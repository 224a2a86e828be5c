"""What commit the code being built is: version names and run names derive from it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Commit:
    sha: str | None
    dirty: bool

    @property
    def short(self) -> str:
        return self.sha[:7] if self.sha else "nogit"


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def current_commit(path: Path) -> Commit:
    """HEAD of the repository holding `path`; `dirty` when tracked files differ from it, so that a
    version name never claims a commit the uploaded code does not match."""
    sha = _git(["rev-parse", "HEAD"], path)
    if not sha:
        return Commit(None, False)
    status = _git(["status", "--porcelain", "--untracked-files=no"], path)
    return Commit(sha, bool(status))
