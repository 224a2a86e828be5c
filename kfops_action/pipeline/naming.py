"""Names that tie what runs on Kubeflow back to the code: the commit and the compiled spec.

The parsers read them back: /deploy and /cancel check a run's names in KFP against the pull
request and commit a status comment claims for it (chatops/provenance.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the parsers are used by the Action before anything imports yaml (package.py)
    from ..gitinfo import Commit
    from .package import PipelinePackage

_SHORT = r"(?P<short>[0-9a-f]{7}|nogit)"
_VERSION_NAME = re.compile(rf"^{_SHORT}(?P<dirty>-dirty)?-(?P<spec>[0-9a-f]+)$")
_RUN_NAME = re.compile(rf"^(?P<pipeline>.+)-pr(?P<pr>\d+)-{_SHORT}-\d{{8}}-\d{{6}}$")


@dataclass(frozen=True)
class VersionName:
    short: str       # the commit's short sha (or "nogit")
    dirty: bool      # built from a tree with uncommitted changes
    spec_hash: str


@dataclass(frozen=True)
class PullRequestRunName:
    pipeline: str
    pr: int
    short: str


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


def parse_version_name(name: str) -> VersionName | None:
    """The parts of a `version_name`; None for a name kfops does not give."""
    match = _VERSION_NAME.match(name)
    return VersionName(match["short"], bool(match["dirty"]), match["spec"]) if match else None


def parse_run_name(name: str) -> PullRequestRunName | None:
    """The parts of a `run_name` given for a pull request; None for any other name (a run started
    by `kfc run`, or by hand in the KFP UI). The pipeline part is everything before the last
    `-pr<N>-<sha7>-<time>`, so a pipeline name may itself contain such text."""
    match = _RUN_NAME.match(name)
    return PullRequestRunName(match["pipeline"], int(match["pr"]), match["short"]) if match else None
