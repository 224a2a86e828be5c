"""issue_comment events as GitHub sends them: an example payload from npm
@octokit/webhooks-examples, changed only where the scenario needs it, and validated against the
event's JSON schema from npm @octokit/webhooks-schemas before it is used.

The examples are comments on a plain issue; a comment on a pull request is the same payload with
`issue.pull_request` (GitHub's REST docs: "pull requests are issues"), which is added here with
the fields the schema allows.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / ".ci" / "node_modules" / "@octokit"
EXAMPLES = MODULES / "webhooks-examples" / "api.github.com" / "index.json"
SCHEMA = MODULES / "webhooks-schemas" / "schema.json"
HOW_TO = ("run .ci/install-webhooks.sh (npm @octokit/webhooks-examples and @octokit/webhooks-schemas, "
          "pinned in .ci/package.json)")


def available() -> bool:
    return EXAMPLES.is_file() and SCHEMA.is_file()


@lru_cache(maxsize=1)
def _examples() -> dict[str, list[dict[str, Any]]]:
    events = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    return {event["name"]: event["examples"] for event in events}


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def validate(payload: dict[str, Any], definition: str) -> None:
    """Raise jsonschema.ValidationError unless `payload` fits `definition` (e.g. issue_comment$created)."""
    import jsonschema

    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "definitions": _schema()["definitions"],
              "$ref": f"#/definitions/{definition}"}
    jsonschema.Draft7Validator(schema).validate(payload)


def example_for(action: str) -> dict[str, Any]:
    """The first example of issue_comment `action` that fits its own schema (not all do: the
    first `created` one lacks issue.active_lock_reason, which the schema requires)."""
    import jsonschema

    for example in _examples()["issue_comment"]:
        if example["action"] == action:
            try:
                validate(example, f"issue_comment${action}")
            except jsonschema.ValidationError:
                continue
            return example
    raise LookupError(f"no valid issue_comment {action} example in {EXAMPLES}")


def issue_comment(action: str, *, api_url: str, web_url: str, owner: str, repo: str, number: int,
                  comment_id: int, body: str, user: str, user_type: str = "User", pull_request: bool = True,
                  created_at: str = "2025-01-06T09:00:00Z") -> dict[str, Any]:
    """An issue_comment event (`action`: created, edited, deleted) on issue or pull request `number`."""
    payload = copy.deepcopy(example_for(action))
    repo_api, repo_web = f"{api_url}/repos/{owner}/{repo}", f"{web_url}/{owner}/{repo}"

    repository = payload["repository"]
    repository.update(name=repo, full_name=f"{owner}/{repo}", url=repo_api, html_url=repo_web)
    repository["owner"]["login"] = owner

    issue = payload["issue"]
    kind = "pull" if pull_request else "issues"
    issue.update(number=number, state="open", url=f"{repo_api}/issues/{number}",
                 html_url=f"{repo_web}/{kind}/{number}", comments_url=f"{repo_api}/issues/{number}/comments")
    if pull_request:
        issue["pull_request"] = {"url": f"{repo_api}/pulls/{number}", "html_url": f"{repo_web}/pull/{number}",
                                 "diff_url": f"{repo_web}/pull/{number}.diff",
                                 "patch_url": f"{repo_web}/pull/{number}.patch", "merged_at": None}
    else:
        issue.pop("pull_request", None)

    comment = payload["comment"]
    comment.update(id=comment_id, body=body, url=f"{repo_api}/issues/comments/{comment_id}",
                   html_url=f"{repo_web}/{kind}/{number}#issuecomment-{comment_id}",
                   issue_url=f"{repo_api}/issues/{number}", created_at=created_at, updated_at=created_at)
    comment["user"].update(login=user, type=user_type)
    payload["sender"] = copy.deepcopy(comment["user"])
    validate(payload, f"issue_comment${action}")
    return payload
