"""Labels on pull requests, including exclusive ones that move.

- `ensure_label` creates a missing label with our color and description (GitHub would otherwise
  create it silently, grey and undescribed, on first use).
- `move_exclusive_label`: a label such as `Deployed-to-production` says "this PR is what runs in
  production"; only one PR may carry it, so adding it removes it from every other PR, open or
  closed.
Label names go into URLs percent-encoded (they may contain spaces, '/', ':').
"""

from __future__ import annotations

from typing import Any

from .client import GitHubClient, GitHubError, segment
from .refs import Repo

DEFAULT_COLOR = "0e8a16"


def ensure_label(client: GitHubClient, repo: Repo, name: str, *, color: str = DEFAULT_COLOR,
                 description: str = "") -> dict[str, Any]:
    """The label, created first if the repository does not have it."""
    try:
        return client.get(f"{repo.path}/labels/{segment(name)}")
    except GitHubError as exc:
        if exc.status != 404:
            raise
    body = {"name": name, "color": color.lstrip("#"), "description": description[:100]}
    try:
        return client.post(f"{repo.path}/labels", body)
    except GitHubError as exc:
        if exc.status == 422 and exc.has_error_text("already_exists"):  # created meanwhile
            return client.get(f"{repo.path}/labels/{segment(name)}")
        raise


def get_label(client: GitHubClient, repo: Repo, name: str) -> dict[str, Any] | None:
    """The repository's label, or None when it has none of that name."""
    try:
        return client.get(f"{repo.path}/labels/{segment(name)}")
    except GitHubError as exc:
        if exc.status == 404:
            return None
        raise


def delete_label(client: GitHubClient, repo: Repo, name: str) -> bool:
    """Delete a repository label (from every issue too); False when there was none."""
    return _delete_if_present(client, f"{repo.path}/labels/{segment(name)}")


def add_labels(client: GitHubClient, repo: Repo, issue: int, names: list[str]) -> list[str]:
    """Add labels (GitHub keeps the ones already there); returns the issue's labels after."""
    data = client.post(f"{repo.path}/issues/{issue}/labels", {"labels": names})
    return [label["name"] for label in data or []]


def remove_label(client: GitHubClient, repo: Repo, issue: int, name: str) -> bool:
    """Remove a label; False when the issue did not have it (not an error)."""
    return _delete_if_present(client, f"{repo.path}/issues/{issue}/labels/{segment(name)}")


def _delete_if_present(client: GitHubClient, path: str) -> bool:
    """A label already gone is what the caller wanted: a 404 is an answer, not an error."""
    try:
        client.delete(path)
    except GitHubError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def issues_with_label(client: GitHubClient, repo: Repo, name: str) -> list[int]:
    """Numbers of the pull requests (open or closed) that carry the label."""
    return [item["number"] for item in client.paginate(f"{repo.path}/issues",
                                                        {"labels": name, "state": "all"})
            if item.get("pull_request")]


def move_exclusive_label(client: GitHubClient, repo: Repo, name: str, to_issue: int, *,
                         color: str = DEFAULT_COLOR, description: str = "") -> list[int]:
    """Put `name` on `to_issue` and take it off every other PR; returns the PRs it left."""
    ensure_label(client, repo, name, color=color, description=description)
    moved = []
    for number in issues_with_label(client, repo, name):
        if number != to_issue and remove_label(client, repo, number, name):
            moved.append(number)
    add_labels(client, repo, to_issue, [name])
    return moved
