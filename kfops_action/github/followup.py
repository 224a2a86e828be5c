"""The follow-up workflow's schedule, switched on only while a handed-over run is pending.

A scheduled workflow bills at least a minute per job, pending work or not: every 20 minutes is
72 jobs a day, forever. GitHub offers a job no cheaper way to learn that nothing is pending (a
job `if:` cannot read anything kfops could write with the job's token), but the token can switch
a workflow off and on (`PUT .../actions/workflows/{file}/disable|enable`, `actions: write`). So:

- a job that hands a run over switches the follow-up workflow on (`enable_for_handover`);
- a sweep that leaves nothing pending switches its own workflow off, then looks once more and
  switches it back on if a run was handed over meanwhile (`settle_after_sweep`), so a hand-over
  racing with the switch-off is never stranded.

Switching is best effort: a token without `actions: write`, a renamed workflow file or GitHub
Enterprise without the API leave the schedule as it is (always on), with a warning in the log:
reports are then finished as before, at the cost of the idle jobs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from .client import GitHubClient, GitHubError
from .refs import Repo

FOLLOWUP_INPUT = "followup-workflow"
DEFAULT_FOLLOWUP = "kfops-followup.yml"
_WORKFLOW_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.ya?ml$")


def workflow_file(name: str) -> str:
    """The workflow's file name as the API takes it (no folder); ValueError for anything else,
    since it goes into a URL path."""
    base = name.strip().rsplit("/", 1)[-1]
    if not _WORKFLOW_FILE.match(base):
        raise ValueError(f"not a workflow file name: {name!r} (expected e.g. {DEFAULT_FOLLOWUP})")
    return base


def running_workflow(env: Mapping[str, str]) -> str | None:
    """This job's own workflow file, from GITHUB_WORKFLOW_REF (`owner/repo/.github/workflows/x.yml@ref`)."""
    ref = env.get("GITHUB_WORKFLOW_REF", "").split("@", 1)[0]
    try:
        return workflow_file(ref) if ref else None
    except ValueError:
        return None


def set_enabled(client: GitHubClient, repo: Repo, workflow: str, enabled: bool,
                log: Callable[[str], None]) -> bool:
    """Switch `workflow` on or off; False (and a warning) when GitHub refused."""
    action = "enable" if enabled else "disable"
    try:
        client.put(f"{repo.path}/actions/workflows/{workflow_file(workflow)}/{action}")
    except (GitHubError, ValueError) as exc:
        log(f"warning: could not {action} the workflow {workflow} ({exc}); its schedule stays as it was. "
            "Give the job `actions: write` to let kfops switch the follow-up off while nothing is pending.")
        return False
    log(f"kfops: {action}d the workflow {workflow}")
    return True


def handover_workflow(env: Mapping[str, str]) -> str:
    """The follow-up workflow a hand-over switches on: the `followup-workflow` input, else the
    file name the workflows `kfc init` writes use."""
    return (env.get(f"INPUT_{FOLLOWUP_INPUT.upper()}") or "").strip() or DEFAULT_FOLLOWUP


def settle_after_sweep(switch: Callable[[str, bool], bool], env: Mapping[str, str], *, pending: int,
                       count_pending: Callable[[], int], log: Callable[[str], None]) -> bool | None:
    """After a scheduled sweep that left nothing pending: switch this workflow off, then look
    again and switch it back on if a run was handed over meanwhile. Returns whether the schedule
    is off (None: not touched)."""
    workflow = running_workflow(env)
    if pending or workflow is None or env.get("GITHUB_EVENT_NAME") != "schedule":
        return None
    if not switch(workflow, False):
        return None
    if count_pending():
        log("kfops: a run was handed over while the schedule was being switched off: switching it on again")
        return not switch(workflow, True)
    return True
