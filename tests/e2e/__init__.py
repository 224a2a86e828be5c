"""Helpers for tests/test_action_e2e.py: the Action's workflow run by `act` as GitHub runs it.

- webhooks.py  real issue_comment payloads (npm @octokit/webhooks-examples), validated against
               GitHub's webhook schemas (npm @octokit/webhooks-schemas)
- repos.py     the model repository: a local "git server" (bare repository with the pull
               request refs) and the clone act runs in
- github.py    the fake GitHub (tests/fakes/fake_github.py) with fork pull requests, behind Prism
- act.py       running act, each job in a container of the runner image, with the action and the
               remote actions swapped for local folders (--local-repository), and reading what
               each job did
- engine.py    the container engine, the runner image and kfops' image built from the Dockerfile
- runtime.py   the action as a workflow downloads it, and as a release publishes it (image pinned)
- actions/     local stand-ins for the remote actions the workflow uses (see actions/README.md)
"""
