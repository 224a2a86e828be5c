"""When run inside the Action: does the GitHub token work, with the scopes kfops needs?

Read-only: one `GET /repos/{owner}/{repo}`. A classic personal access token lists its scopes in the
`X-OAuth-Scopes` header (kfops needs `repo`, or `public_repo` on a public repository); a user
token's `permissions` in the answer say whether it may push (labels, statuses, merges need write).
The job's GITHUB_TOKEN and GitHub App tokens carry neither: their permissions are the workflow
job's `permissions:` block, which the workflow line checks.
"""

from __future__ import annotations

from . import Context, Result, fail, ok, skip

NAME = "github"
USERS = ("every pull-request command",)


def check(ctx: Context) -> list[Result]:
    env = ctx.env
    if env.get("GITHUB_ACTIONS") != "true":
        return [skip(NAME, "not running in GitHub Actions (the token is the job's)")]
    token = (env.get("INPUT_GITHUB-TOKEN") or env.get("INPUT_GITHUB_TOKEN") or env.get("GITHUB_TOKEN") or "").strip()
    repository = env.get("GITHUB_REPOSITORY", "")
    if not token:
        return [fail(NAME, "no GitHub token (GITHUB_TOKEN or the github-token input)",
                     "pass `github-token: ${{ secrets.GITHUB_TOKEN }}` to the action", USERS)]
    if "/" not in repository:
        return [fail(NAME, "GITHUB_REPOSITORY is not set", "run kfc doctor from a workflow step", USERS)]
    from ...github.client import GitHubClient, GitHubError, RetryPolicy

    client = GitHubClient(token, env=env, policy=RetryPolicy(max_attempts=1))
    try:
        reply = client.request("GET", f"/repos/{repository}")
    except GitHubError as exc:
        if exc.status == 401:
            return [fail(NAME, "GitHub rejects the token (401 Bad credentials)",
                         "pass a valid token as github-token (the default is the job's GITHUB_TOKEN)", USERS)]
        if exc.status == 404:
            return [fail(NAME, f"the token cannot see {repository} (404)",
                         "give the token access to this repository (fine-grained tokens list their repositories)",
                         USERS)]
        return [fail(NAME, f"GitHub did not answer: {exc.what}", exc.fix or "retry later", USERS)]
    data = reply.data if isinstance(reply.data, dict) else {}
    scopes_header = _header(reply.headers, "X-OAuth-Scopes")
    if scopes_header is not None:
        scopes = {s.strip() for s in scopes_header.split(",") if s.strip()}
        needed = "public_repo" if data.get("private") is False else "repo"
        if "repo" not in scopes and needed not in scopes:
            return [fail(NAME, f"the token's scopes are {', '.join(sorted(scopes)) or 'none'}; kfops needs {needed}",
                         f"create the token with the {needed} scope", USERS)]
        return [ok(NAME, f"classic token for {repository} with scopes {', '.join(sorted(scopes))}")]
    permissions = data.get("permissions")
    if isinstance(permissions, dict):
        if not permissions.get("push"):
            return [fail(NAME, f"the token may read {repository} but not write to it",
                         "use a token of a user or App with write access (labels, statuses, merges)", USERS)]
        return [ok(NAME, f"token accepted for {repository} with write access")]
    return [ok(NAME, f"token accepted for {repository}; its permissions are the job's `permissions:` "
                     "(see the workflow line)")]


def _header(headers: object, name: str) -> str | None:
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    value = getter(name)
    if value is None:
        value = getter(name.lower())
    return value
