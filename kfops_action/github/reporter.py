"""A command's report in the PR, driven by the handlers as the work advances.

`PullRequestReport` holds the `Report` of one invocation and its `StatusComment`: each state
change re-renders and edits the one comment; progress lines go to the job log only (a PR comment
per step would be noise and would spend the request budget); warnings are collected and shown.
`finish` sends the final report, writes it with whole logs to the job summary, and logs the
number of GitHub requests the command made.

It satisfies the handlers' `Reporter` protocol (`progress`, `warning`).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import actions_commands
from .render import Report, render, render_summary
from .status_comment import StatusComment

if TYPE_CHECKING:
    from .check_runs import CheckRunMirror


class PullRequestReport:
    def __init__(self, comment: StatusComment, report: Report, *,
                 log: Callable[[str], None] | None = None, scrub: Callable[[str], str] | None = None,
                 env: Mapping[str, str] | None = None, summary: Callable[[], str] | None = None,
                 check_run: CheckRunMirror | None = None) -> None:
        self.comment = comment
        self.report = report
        self.check_run = check_run  # the same report in the Checks tab (check_runs.py), if any
        self.scrub = scrub or comment.scrub
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.env = env
        client = getattr(comment, "client", None)
        self.summary = summary or getattr(client, "summary", None)

    # -- handlers' Reporter protocol -------------------------------------------------------------

    def progress(self, message: str) -> None:
        self.log(self.scrub(message))

    def warning(self, message: str) -> None:
        message = self.scrub(message)
        self.log(f"warning: {message}")
        self.report = dataclasses.replace(self.report, warnings=(*self.report.warnings, message))

    # -- state ---------------------------------------------------------------------------------

    def update(self, *, force: bool = True, **changes: Any) -> bool:
        """Change fields of the report (state=..., run_url=...) and show it. State changes are
        forced; pass force=False for progress that may be throttled (task states while polling)."""
        self.report = dataclasses.replace(self.report, **self._keeping_warnings(changes))
        shown = self.comment.update(self.scrub(render(self.report)), force=force or self.report.final)
        self._mirror()
        return shown

    def finish(self, state: str, **changes: Any) -> None:
        """The final report: posted (always), and written to the job summary with whole logs."""
        self.report = dataclasses.replace(self.report, state=state, **self._keeping_warnings(changes))
        self.comment.update(self.scrub(render(self.report)), force=True)
        self._mirror()
        actions_commands.append_step_summary(self.scrub(render_summary(self.report)), env=self.env)
        text = self.summary() if self.summary is not None else ""
        if text:
            self.log(text)

    def _keeping_warnings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """A handler re-renders its report from its run record, whose warnings were copied when
        the record was made; a warning given since (a check run GitHub refused) must not vanish."""
        if "warnings" in changes:
            kept = list(self.report.warnings)
            changes = {**changes, "warnings": (*kept, *(w for w in changes["warnings"] if w not in kept))}
        return changes

    def _mirror(self) -> None:
        """The check run follows the comment; when it cannot be written, the comment says so."""
        if self.check_run is None:
            return
        problem = self.check_run.show(self.report, comment_url=self.comment.url)
        if problem:
            self.warning(problem)
            self.comment.update(self.scrub(render(self.report)), force=True)
