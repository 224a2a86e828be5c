"""The outside world, as the dispatcher and the handlers see it: narrow interfaces passed in.

Narrow on purpose (after gidgethub's sans-I/O design): the dispatcher is tested with an in-memory
fake, the Action plugs in `kfops_action.github.repo.GitHubRepo` (GitHub's REST API with its retry
and rate-limit rules), and nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from ..github.status_comment import StatusRecord

# GitHub's reaction contents used here.
EYES, ROCKET, CONFUSED = "eyes", "rocket", "confused"


class StatusPort(Protocol):
    """One invocation's status comment (kfops_action.github.status_comment.StatusComment)."""

    key: str

    @property
    def url(self) -> str | None: ...

    def update(self, body: str, *, force: bool = False) -> bool: ...

    def adopt(self, record: StatusRecord) -> None: ...


class GitHubPort(Protocol):
    """What the dispatcher and the handlers need from GitHub, for the event's repository."""

    def get_permission(self, user: str) -> str:
        """The user's level on the repository (none, read, triage, write, maintain, admin; a
        custom role counts as its legacy `permission`: see authorize.normalize_level)."""
        ...

    def get_pull(self, number: int) -> dict[str, Any]:
        """The pull request as GET /repos/{owner}/{repo}/pulls/{number} returns it."""
        ...

    def branch_activity(self, branch: str) -> Iterable[Mapping[str, Any]]:
        """What GitHub recorded on one of the repository's branches (pushes, force pushes,
        creation), newest first, as GET /repos/{owner}/{repo}/activity lists it."""
        ...

    def is_team_member(self, org: str, team: str, user: str) -> bool:
        """Whether the user is an active member of the org's team (team slug)."""
        ...

    def add_reaction(self, comment_id: int, content: str) -> None: ...

    def post_comment(self, number: int, body: str) -> None:
        """A one-off reply; split into several comments past GitHub's 65,536 characters."""
        ...

    def status_comment(self, issue: int, key: str, *, resume: bool = False) -> StatusPort:
        """The status comment of invocation `key` (not posted until its first update)."""
        ...

    def status_comments(self, issue: int) -> Sequence[StatusRecord]:
        """Every status comment the action itself wrote on the PR, with its hidden state."""
        ...

    def set_status(self, sha: str, *, context: str, state: str, description: str | None = None,
                   target_url: str | None = None) -> None:
        """A commit status on `sha` (the pinned head), e.g. kfops/run pending/success/failure."""
        ...

    def switch_workflow(self, workflow: str, enabled: bool) -> bool:
        """Switch a workflow of the repository on or off (the follow-up's schedule); False when
        GitHub refused (the caller goes on: switching is best effort)."""
        ...


# kfops.yaml as it is on a branch: given the branch name, its text, or None when it has none.
ConfigSource = Callable[[str], "str | None"]

