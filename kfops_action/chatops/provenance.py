"""A run's record in a status comment is only a hint: before /deploy or /cancel acts on a run,
Kubeflow is asked what that run is.

Why the comment's author proves nothing: every workflow of the repository that holds GITHUB_TOKEN
comments as the action's identity (github-actions[bot]), a write user's own `pull_request`
workflow on a branch among them; and a key kept as a repository secret is readable by those same
workflows, so a signed record would be no better. So the run is re-read from KFP (credentials and
namespace from the base branch, tracking.remote_from_base) and must be, by KFP's own account:

- known to KFP (its own "not found" refuses; a router's 404 is an error, not a verdict);
- SUCCEEDED (for /deploy; the record's state is not looked at);
- in an experiment of the namespace the base branch names (`pipeline.namespace`), when it names one;
- started from a stored pipeline version named `<sha7>-<spec hash>` (pipeline/naming.py) of the
  record's commit, from a clean tree;
- named `<that version's pipeline>-pr<N>-<sha7>-<time>` (handlers/run.py start_remote): started
  for THIS pull request, at that commit.

/deploy then acts on a record rebuilt from KFP's answers (`Verified.record`): name, link, state,
times, pipeline version and the tasks' output artifact ids, whose URIs ML Metadata gives. From
the comment only the run id (what to ask KFP about) and the commit (checked above against both
names, and by deploy_rules.choose_run against the pinned head) are kept; images, parameters and a
`model.uri` in the comment are never used.

Not covered: whoever holds a KFP credential for the namespace can start a run with such names;
the check ties a run to the pull request as far as KFP's names do, no further.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from ..github.render import code
from ..pipeline.naming import parse_run_name, parse_version_name
from .deploy_rules import Refusal
from .runs import SUCCEEDED_STATES, RunRecord

if TYPE_CHECKING:
    from ..kubeflow.remote import ExperimentRef, KfpRemote, PipelineVersionRef, RunStatus

T = TypeVar("T")


@dataclass(frozen=True)
class Verified:
    """What KFP says about a run whose record checked out."""

    status: RunStatus
    version: PipelineVersionRef
    url: str

    def record(self, hint: RunRecord, pr: int) -> RunRecord:
        """The record to deploy from: KFP's facts; the hint's commit (already checked against
        KFP's names) and its bookkeeping (key, command, requester) only."""
        status, version = self.status, self.version
        run = RunRecord(key=hint.key, command=hint.command, pr=pr, requested_by=hint.requested_by,
                        requested_at=hint.requested_at, sha=hint.sha, run_id=status.run_id,
                        run_name=status.display_name or "", run_url=self.url,
                        experiment_id=status.experiment_id or "",
                        pipeline={"name": version.pipeline_name, "id": version.pipeline_id,
                                  "version_id": version.version_id, "version_name": version.version_name})
        return run.with_status(status)


def verify_run(remote: KfpRemote, hint: RunRecord, *, pr: int, succeeded: bool) -> Verified | Refusal:
    """Ask KFP about the run `hint` names and check it against pull request `pr` and the hint's
    commit (and, with `succeeded`, that it succeeded). A Refusal names what did not match."""
    from ..kubeflow.remote import NotFound

    try:
        status = remote.get_run(hint.run_id)
    except NotFound as exc:
        if not exc.from_api:
            raise
        return Refusal(f"Kubeflow has no run {code(hint.run_id)}: kfops acts only on runs Kubeflow knows "
                        "(`/status` lists this pull request's).")
    version: PipelineVersionRef | None = None
    experiment: ExperimentRef | None = None
    if status.pipeline_id and status.pipeline_version_id:
        pipeline_id, version_id = status.pipeline_id, status.pipeline_version_id
        version = _unless_unknown(lambda: remote.get_pipeline_version(pipeline_id, version_id))
    if status.experiment_id:
        experiment_id = status.experiment_id
        experiment = _unless_unknown(lambda: remote.get_experiment(experiment_id))
    problems = mismatches(status, version, experiment, pr=pr, sha=hint.sha,
                          namespace=remote.connection.namespace, succeeded=succeeded)
    if problems or version is None:
        return Refusal(f"Kubeflow's run {code(hint.run_id)} is not a run of this pull request's commit "
                        f"{code(hint.sha[:7] or '?')}: " + "; ".join(problems) + ".")
    return Verified(status, version, remote.run_url(status.run_id))


def mismatches(status: RunStatus, version: PipelineVersionRef | None, experiment: ExperimentRef | None, *,
               pr: int, sha: str, namespace: str | None, succeeded: bool) -> list[str]:
    """Each way KFP's account of a run differs from "a run of pull request `pr` at commit `sha`"
    (pure; see the module docstring for why each one is checked)."""
    short = sha[:7]
    found = []
    if succeeded and status.state not in SUCCEEDED_STATES:
        found.append(f"Kubeflow says it is {code(status.state)}, not `SUCCEEDED`")
    if namespace and (experiment is None or experiment.namespace != namespace):
        where = code(experiment.namespace or "none") if experiment else "an experiment Kubeflow does not know"
        found.append(f"it is in namespace {where}, not {code(namespace)} (`pipeline.namespace` on the base branch)")
    parsed = parse_version_name(version.version_name) if version is not None else None
    if version is None:
        found.append("it was not started from a pipeline version stored in Kubeflow")
    elif parsed is None or parsed.dirty:
        found.append(f"its pipeline version {code(version.version_name)} is not one kfops uploads for a commit "
                     "(`<sha7>-<spec hash>`)")
    elif parsed.short != short:
        found.append(f"its pipeline version {code(version.version_name)} is of commit {code(parsed.short)}")
    name = parse_run_name(status.display_name or "")
    if name is None:
        found.append(f"its name {code(status.display_name or '')} is not the name kfops gives a pull request's "
                     "run (`<pipeline>-pr<N>-<sha7>-<time>`)")
        return found
    if name.pr != pr:
        found.append(f"it was started for pull request #{name.pr}, not #{pr}")
    if name.short != short:
        found.append(f"its name {code(status.display_name)} is of commit {code(name.short)}")
    if version is not None and name.pipeline != version.pipeline_name:
        found.append(f"its name says pipeline {code(name.pipeline)}, but it ran {code(version.pipeline_name)}")
    return found


def _unless_unknown(read: Callable[[], T]) -> T | None:
    """KFP's own "not found" as None (checked as a mismatch); any other failure is raised."""
    from ..kubeflow.remote import NotFound

    try:
        return read()
    except NotFound as exc:
        if not exc.from_api:
            raise
        return None
