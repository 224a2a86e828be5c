"""Results where GitHub shows them natively: commit statuses and deployments.

Commit statuses (`kfops/run`, `kfops/deploy`) go on the head SHA pinned when the command
arrived, never on "the PR's current head": a status for code that was not run would be a lie in
the PR's checks. Descriptions are cut to GitHub's 140 characters.

Deployments record a deploy in GitHub's own history (environment, who, which SHA, the URL):
created with `auto_merge: false` (the default would merge the default branch into the ref) and
`required_contexts: []` (we are the check; our own pending `kfops/deploy` status would otherwise
block it). Statuses use `auto_inactive` so older deployments of the environment become inactive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .client import GitHubClient, GitHubError, Reply
from .refs import Repo

RUN_CONTEXT = "kfops/run"
DEPLOY_CONTEXT = "kfops/deploy"
STATUS_STATES = frozenset({"error", "failure", "pending", "success"})
DEPLOYMENT_STATES = frozenset({"error", "failure", "inactive", "in_progress", "queued", "pending", "success"})
DESCRIPTION_LIMIT = 140


def _short(text: str | None, limit: int = DESCRIPTION_LIMIT) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def set_commit_status(client: GitHubClient, repo: Repo, sha: str, *, context: str, state: str,
                      description: str | None = None, target_url: str | None = None) -> None:
    if state not in STATUS_STATES:
        raise ValueError(f"commit status state {state!r}: one of {', '.join(sorted(STATUS_STATES))}")
    body: dict[str, Any] = {"state": state, "context": context}
    if description:
        body["description"] = _short(description)
    if target_url:
        body["target_url"] = target_url
    client.post(f"{repo.path}/statuses/{sha}", body)


def create_deployment(client: GitHubClient, repo: Repo, *, sha: str, environment: str,
                      description: str | None = None, production: bool = False,
                      payload: Mapping[str, Any] | None = None, key: str | None = None) -> int:
    """A deployment of `sha` to `environment`; returns its id.

    `key` (e.g. the command comment id) goes into the payload and makes a retried creation
    idempotent: if the first attempt went through, that deployment is found and returned.
    """
    data: dict[str, Any] = dict(payload or {})
    if key:
        data["kfops_key"] = key
    body: dict[str, Any] = {
        "ref": sha, "environment": environment, "auto_merge": False, "required_contexts": [],
        "production_environment": production, "transient_environment": False, "task": "deploy",
        "payload": data,
    }
    if description:
        body["description"] = _short(description)

    def reconcile() -> Reply | None:
        if not key:
            return None
        for item in client.paginate(f"{repo.path}/deployments", {"sha": sha, "environment": environment}):
            if isinstance(item.get("payload"), Mapping) and item["payload"].get("kfops_key") == key:
                return Reply(201, item)
        return None

    reply = client.request("POST", f"{repo.path}/deployments", json_body=body, reconcile=reconcile)
    if reply.status != 201 or not isinstance(reply.data, Mapping) or "id" not in reply.data:
        message = reply.data.get("message") if isinstance(reply.data, Mapping) else ""
        raise GitHubError(f"GitHub did not create the deployment to {environment}: {message}",
                          status=reply.status, message=str(message or ""))
    return int(reply.data["id"])


def set_deployment_status(client: GitHubClient, repo: Repo, deployment_id: int, *, state: str,
                          environment_url: str | None = None, log_url: str | None = None,
                          description: str | None = None) -> None:
    if state not in DEPLOYMENT_STATES:
        raise ValueError(f"deployment state {state!r}: one of {', '.join(sorted(DEPLOYMENT_STATES))}")
    body: dict[str, Any] = {"state": state, "auto_inactive": True}
    if environment_url:
        body["environment_url"] = environment_url
    if log_url:
        body["log_url"] = log_url
    if description:
        body["description"] = _short(description)
    client.post(f"{repo.path}/deployments/{deployment_id}/statuses", body)
