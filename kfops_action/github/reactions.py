"""Reactions on the command comment: the cheapest acknowledgement a commenter can see.

GitHub answers 201 when it adds a reaction and 200 when the same reaction by the same account is
already there, so reacting twice (a retried request, a re-run workflow) is harmless.
"""

from __future__ import annotations

from .client import GitHubClient, segment
from .refs import Repo

CONTENTS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})


def add_reaction(client: GitHubClient, repo: Repo, comment_id: int, content: str) -> None:
    if content not in CONTENTS:
        raise ValueError(f"{content!r} is not a GitHub reaction (one of {', '.join(sorted(CONTENTS))})")
    client.post(f"{repo.path}/issues/comments/{segment(comment_id)}/reactions", {"content": content})
