#!/usr/bin/env python3
"""Cut GitHub's OpenAPI description (npm @octokit/openapi, 13 MB) down to the operations kfops uses.

Why: Prism needs ~20 s to start on the whole description and ~3 s on this subset, and every test
session that checks our GitHub traffic starts one.

What changes besides dropping paths: every `application/json` response is also declared as
`application/vnd.github+json`, the media type GitHub documents for requests' `Accept` header (the
published description only says `application/json`, and Prism answers 406 to an `Accept` it
cannot match). Nothing else is edited: schemas, parameters and examples are GitHub's own.

Usage: cut-github-openapi.py [SOURCE [OUT]]
  SOURCE  default .ci/node_modules/@octokit/openapi/generated/api.github.com.json
  OUT     default .ci/state/github-openapi-subset.json
Standard library only; the output is deterministic (same input, same bytes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

CI = Path(__file__).resolve().parent
DEFAULT_SOURCE = CI / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
DEFAULT_OUT = CI / "state" / "github-openapi-subset.json"
VND = "application/vnd.github+json"

# (method, path): every call kfops_action.github makes, and the reads its tests use to check state.
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("get", "/rate_limit"),
    ("get", "/orgs/{org}/teams/{team_slug}/memberships/{username}"),
    ("get", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("get", "/repos/{owner}/{repo}/issues"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("delete", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("delete", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"),
    ("post", "/repos/{owner}/{repo}/labels"),
    ("get", "/repos/{owner}/{repo}/labels/{name}"),
    ("delete", "/repos/{owner}/{repo}/labels/{name}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("put", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("get", "/repos/{owner}/{repo}/compare/{basehead}"),
    ("get", "/repos/{owner}/{repo}/activity"),
    ("post", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/statuses"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/deployments"),
    ("post", "/repos/{owner}/{repo}/deployments"),
    ("get", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("post", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("put", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/enable"),
    ("put", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/disable"),
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}"),
)


def _refs(node: Any, found: set[str]) -> None:
    """Collect every local `$ref` target under `node`."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                found.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _declare_vnd(node: Any) -> None:
    """Add `application/vnd.github+json` next to each `application/json` response body."""
    if isinstance(node, dict):
        responses = node.get("responses")
        if isinstance(responses, dict):
            for response in responses.values():
                content = response.get("content") if isinstance(response, dict) else None
                if isinstance(content, dict) and "application/json" in content and VND not in content:
                    content[VND] = content["application/json"]
        for value in node.values():
            _declare_vnd(value)
    elif isinstance(node, list):
        for value in node:
            _declare_vnd(value)


def cut(spec: dict[str, Any], operations: tuple[tuple[str, str], ...] = OPERATIONS) -> dict[str, Any]:
    """A self-contained description holding only `operations` and the components they reach."""
    paths: dict[str, Any] = {}
    for method, path in operations:
        source = spec["paths"].get(path)
        if source is None or method not in source:
            raise KeyError(f"{method.upper()} {path} is not in GitHub's description")
        item = paths.setdefault(path, {k: v for k, v in source.items() if k == "parameters"})
        item[method] = source[method]
    paths = {p: {k: v for k, v in sorted(ops.items())} for p, ops in sorted(paths.items())}

    wanted: set[str] = set()
    _refs(paths, wanted)
    done: set[str] = set()
    while wanted - done:
        ref = sorted(wanted - done)[0]
        done.add(ref)
        _refs(_resolve(spec, ref), wanted)

    components: dict[str, dict[str, Any]] = {}
    for ref in sorted(done):
        _, section, kind, name = ref.split("/", 3)
        assert section == "components", ref
        components.setdefault(kind, {})[name] = _resolve(spec, ref)
    out = {
        "openapi": spec["openapi"],
        "info": {**spec["info"], "title": spec["info"]["title"] + " (kfops subset)"},
        "servers": spec.get("servers", []),
        "paths": paths,
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }
    out = json.loads(json.dumps(out))  # deep copy: the edit below must not touch shared nodes twice
    _declare_vnd(out["paths"])
    _declare_vnd(out["components"])
    return out


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    out = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    if not source.is_file():
        print(f"{source}: not found; run .ci/install-github-openapi.sh first", file=sys.stderr)
        return 1
    subset = cut(json.loads(source.read_text(encoding="utf-8")))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(subset, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(f"{out}: {len(subset['paths'])} paths, {out.stat().st_size // 1024} KiB "
          f"(from {source.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
