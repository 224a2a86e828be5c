"""Names that tie what runs on Kubeflow back to the code: the commit and the compiled spec."""

from __future__ import annotations

from datetime import datetime, timezone

from ..gitinfo import Commit
from .package import PipelinePackage


def version_name(commit: Commit, package: PipelinePackage) -> str:
    """`<short sha>-<spec hash>`: the same code uploads once; a dirty tree says so in the name."""
    dirty = "-dirty" if commit.dirty else ""
    return f"{commit.short}{dirty}-{package.spec_hash}"


def run_name(pipeline: str, commit: Commit, pr: int | None = None,
             now: datetime | None = None) -> str:
    """Readable in the KFP UI's run list: pipeline, PR (when there is one), commit, time."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    pr_part = f"pr{pr}-" if pr is not None else ""
    return f"{pipeline}-{pr_part}{commit.short}-{stamp}"
