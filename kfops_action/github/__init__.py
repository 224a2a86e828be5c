"""The GitHub side of the Action: REST client, PR comments, labels, statuses, merges.

Modules, one concern each:

    client.py            REST client on requests: GitHub's retry and rate-limit rules, request count
    refs.py              Repo (owner/name) and Identity (who the action posts as)
    repo.py              GitHubRepo: what the dispatcher calls (satisfies chatops.ports.GitHubPort),
                         kfops.yaml on a branch (contents API), open PRs, status comments
    status_comment.py    one status comment per command invocation, edited in place
    reporter.py          PullRequestReport: a handler's Reporter that drives the status comment
    check_runs.py        the same report as a check run (the Checks tab), and its conclusion
    render.py            Markdown: state, run link, parameters, durations, errors, warnings, logs
    splitting.py         bodies over 65,536 characters split without breaking fences/<details>
    scrub.py             secrets removed from everything posted or logged, and masked
    actions_commands.py  GitHub Actions workflow and file commands (inputs, outputs, annotations)
    reactions.py, labels.py, merge.py, statuses.py   the remaining endpoints

Nothing here imports kfp or kubernetes; `requests` is imported when the first client is made.
"""
