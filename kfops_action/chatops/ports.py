"""The outside world, as the dispatcher sees it: a few narrow interfaces passed in from outside.

Narrow on purpose (after gidgethub's sans-I/O design): the dispatcher is tested with an in-memory
fake, the Action plugs in a REST adapter (github_rest.py now, the full client of the reporter issue
later), and nothing here knows about HTTP.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from ..errors import RemoteError

# GitHub's reaction contents used here.
EYES, ROCKET, CONFUSED = "eyes", "rocket", "confused"


class GitHubPort(Protocol):
    """What the dispatcher needs from GitHub, for the repository the event came from."""

    def get_permission(self, user: str) -> str:
        """The user's role on the repository (`role_name`: none, read, triage, write, maintain,
        admin; see authorize.normalize_level for custom roles)."""
        ...

    def get_pull(self, number: int) -> dict[str, Any]:
        """The pull request as GET /repos/{owner}/{repo}/pulls/{number} returns it."""
        ...

    def is_team_member(self, org: str, team: str, user: str) -> bool:
        """Whether the user is an active member of the org's team (team slug)."""
        ...

    def add_reaction(self, comment_id: int, content: str) -> None: ...

    def post_comment(self, number: int, body: str) -> None: ...


# kfops.yaml as it is on a branch: given the branch name, its text, or None when it has none.
ConfigSource = Callable[[str], "str | None"]


class GitHubError(RemoteError):
    """GitHub refused or failed a request; the message says which and how to fix it."""
