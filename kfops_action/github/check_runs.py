"""Check runs (GitHub's Checks API): a command's report in the pull request's Checks tab.

Why beside the status comment: the Checks tab (and the merge box) is where reviewers look for
"did this commit pass", and a check run can carry the whole report (parameters, metrics table, run
link as its Details button), where a commit status has 140 characters. The comment stays the
conversation; the check run mirrors its state on the pinned head SHA, never on "the PR's head".

`CheckRunMirror` is driven by reporter.PullRequestReport: created at the report's first change
after the status comment appeared (not with the comment: writes are paced a second apart, and a
check run written beside the comment would hold back the run link, the first thing the user waits
for, by that second; benchmarks/bench_action.py measures it), updated when its state or run link
changes (not on every progress edit: each is a request out of
GITHUB_TOKEN's 1,000 an hour), completed with its conclusion at the end. A token without
`checks: write` (403) or any other failure turns it off with one warning in the comment: check
runs are a courtesy, the comment and the kfops/* statuses are the record.

Each check run carries the invocation's key (the command comment's id) as `external_id`, so a run
handed over to the scheduled follow-up is concluded there (`conclude_check_run`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from .client import GitHubClient, GitHubError
from .refs import Repo
from .render import Report, render

NAME_PREFIX = "kfops /"             # every check run kfops writes is named "kfops /<command>"
SUMMARY_LIMIT = 65_535              # GitHub's limit for output.summary
# A command's final state (render.FINAL_STATES) -> the check run's conclusion. A refusal is an
# answer (nothing ran), not a failed check: neutral, like the job's exit code 0.
CONCLUSIONS = {"succeeded": "success", "failed": "failure", "canceled": "cancelled", "timed out": "timed_out",
               "refused": "neutral", "skipped": "skipped"}
CUT_NOTE = "\n\n*The report is longer than a check run holds: the pull request comment has all of it.*"


def check_name(command: str) -> str:
    return f"{NAME_PREFIX}{command.lstrip('/')}"


def is_own(name: str) -> bool:
    """A check run kfops wrote (the deploy gates never count kfops' own checks)."""
    return name.startswith(NAME_PREFIX)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _url(url: str | None) -> str | None:
    return url if url and url.startswith(("https://", "http://")) else None


def output_of(report: Report) -> dict[str, str]:
    """The check run's title and summary: the comment's own rendering (render.render), without
    the hidden state (it belongs to the comment) and the logs (the job summary has them). The
    client scrubs secrets from every request body."""
    shown = dataclasses.replace(report, state_data=None, logs=())
    summary = render(shown)
    if len(summary) > SUMMARY_LIMIT:
        summary = summary[: SUMMARY_LIMIT - len(CUT_NOTE)].rsplit("\n", 1)[0] + CUT_NOTE
    return {"title": f"{report.command} {report.state}", "summary": summary}


def create_check_run(client: GitHubClient, repo: Repo, *, name: str, head_sha: str, external_id: str,
                     output: Mapping[str, str], details_url: str | None = None,
                     conclusion: str | None = None) -> int:
    """A check run on `head_sha`, in progress (or completed with `conclusion`); returns its id."""
    body: dict[str, Any] = {"name": name, "head_sha": head_sha, "external_id": external_id,
                            "status": "in_progress", "started_at": _now(), "output": dict(output)}
    if _url(details_url):
        body["details_url"] = details_url
    if conclusion is not None:
        body.update(status="completed", conclusion=conclusion, completed_at=body["started_at"])
    data = client.post(f"{repo.path}/check-runs", body)
    if not isinstance(data, Mapping) or "id" not in data:
        raise GitHubError("GitHub did not return the check run it created")
    return int(data["id"])


def update_check_run(client: GitHubClient, repo: Repo, check_run_id: int, *, output: Mapping[str, str],
                     conclusion: str | None = None, details_url: str | None = None) -> None:
    """New output; with `conclusion`, completed now."""
    body: dict[str, Any] = {"output": dict(output)}
    if _url(details_url):
        body["details_url"] = details_url
    if conclusion is not None:
        body.update(status="completed", conclusion=conclusion, completed_at=_now())
    client.patch(f"{repo.path}/check-runs/{check_run_id}", body)


def list_check_runs(client: GitHubClient, repo: Repo, sha: str, *, name: str | None = None) -> Iterator[dict[str, Any]]:
    """The latest check run of each name on `sha` (GitHub's `filter=latest`), every page."""
    params: dict[str, Any] = {"filter": "latest"}
    if name:
        params["check_name"] = name
    for item in client.paginate(f"{repo.path}/commits/{sha}/check-runs", params, items="check_runs"):
        if isinstance(item, Mapping):
            yield dict(item)


def conclude_check_run(client: GitHubClient, repo: Repo, *, sha: str, command: str, key: str,
                       report: Report) -> bool:
    """Complete the check run another invocation left in progress (a run handed over to the
    follow-up): found by name and `external_id` on `sha`. False when there is none to complete."""
    conclusion = CONCLUSIONS.get(report.state)
    if conclusion is None:
        return False
    for run in list_check_runs(client, repo, sha, name=check_name(command)):
        if run.get("external_id") == key and run.get("status") != "completed":
            update_check_run(client, repo, int(run["id"]), output=output_of(report), conclusion=conclusion,
                             details_url=report.run_url)
            return True
    return False


class CheckRunMirror:
    """One invocation's check run, shown as its report changes (see the module docstring).

    `write_create(body)` and `write_update(id, body)` are the GitHub calls (GitHubRepo's), so the
    mirror itself stays testable; `show` returns a warning for the comment when the check run
    could not be written, once, after which the mirror stays off."""

    def __init__(self, github: Any, *, command: str, head_sha: str, key: str) -> None:
        self.github, self.command, self.head_sha, self.key = github, command, head_sha, key
        self.id: int | None = None
        self.off = False
        self.shown: tuple[str, str | None] | None = None

    def show(self, report: Report, *, comment_url: str | None = None) -> str | None:
        """Create or update the check run when the state or the run link changed, or at the end."""
        seen = (report.state, report.run_url)
        if self.off or (seen == self.shown and not report.final):
            return None
        if self.shown is None and self.id is None and not report.final:
            self.shown = seen  # the comment's first appearance: the check run comes with the next change
            return None
        details = _url(report.run_url) or _url(comment_url)
        output = output_of(report)
        conclusion = CONCLUSIONS.get(report.state) if report.final else None
        try:
            if self.id is None:
                self.id = self.github.create_check_run(name=check_name(self.command), head_sha=self.head_sha,
                                                       external_id=self.key, output=output, details_url=details,
                                                       conclusion=conclusion)
            else:
                self.github.update_check_run(self.id, output=output, details_url=details, conclusion=conclusion)
        except GitHubError as exc:
            self.off = True
            why = ("the token may not write check runs: give the workflow job `permissions: checks: write`"
                   if exc.status == 403 else exc.what)
            return f"the check run {check_name(self.command)} could not be written ({why}); this comment is the report"
        self.shown = seen
        return None
