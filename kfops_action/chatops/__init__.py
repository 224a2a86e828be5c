"""PR-comment commands ("ChatOps"): the Action's path from a comment to an answer in the PR.

One path, one module per stage, in the order a comment goes through them:

    event.py         which GitHub events and comments count at all (new comments on open PRs, no bots)
    command.py       the comment's first line -> a command with arguments, a near miss, or nothing
    authorize.py     who may run what: permission level, kfops.yaml `chatops` from the base branch, forks
    requirements.py  the state the pull request must be in (open; head SHA pinned when the command arrives)
    dispatch.py      the stages above in order, then the handler, then the answer in the PR
    replies.py       every one-off reply (refusals, /help), in one place
    base_config.py   kfops.yaml read from the base branch (never from the PR under command)
    handlers.py      /build, /run, /build_run (kfops_action.handlers), /status, /cancel
    deploy_rules.py  what must hold before /deploy or /staging_deploy touches the cluster (pure)
    gates.py         the release gates of `deployment.gates`: drafts, CI checks, staging first, model age
    deploy_handler.py  /deploy, /staging_deploy: model URI, base-branch template, gate, rollout
                     (kfops_action.deploy), then label, GitHub deployment, kfops/deploy, merge
    runs.py          a run's record in its status comment (provenance), and the report drawn from it
    tracking.py      following runs, the hand-over, and the scheduled sweep that finishes reports
    ports.py         the narrow interfaces to the outside world (GitHub, the base-branch config)

GitHub itself is kfops_action.github (GitHubRepo satisfies ports.GitHubPort).

Every module here imports only the standard library at the top: the Action acknowledges a command
(the eyes reaction) before anything slow (kfp, kubernetes, jsonschema, yaml) is imported.
"""
