"""`kfops-action` / `python -m kfops_action`: the GitHub Action's entry point, kept thin.

It reads the GitHub Actions environment and hands the event to the dispatcher:

    GITHUB_EVENT_NAME, GITHUB_EVENT_PATH   the event and its JSON payload
    GITHUB_REPOSITORY, GITHUB_API_URL      where to answer
    GITHUB_WORKSPACE                       the checked-out pull request (for /build, /run)
    INPUT_GITHUB_TOKEN (or GITHUB_TOKEN)   the token to answer with
    INPUT_CONFIG                           kfops.yaml's path in the repository (default kfops.yaml)
    INPUT_WAIT, INPUT_TIMEOUT              follow a run to its end (default true), and for how long

The comment text is only ever read from the event file, never from the command line or a shell:
see the security rules in DESIGN.md. Only the standard library is imported before the dispatcher
has acknowledged a command; kfp and kubernetes come in with the handler that needs them.

Exit status: 0 when the event was handled (including ignored events and refusals, which are
answered in the PR), 1 when a command failed, 2 when the job itself is misconfigured.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _input(env: Mapping[str, str], name: str) -> str | None:
    """An action input: GitHub exports `with: {x-y: v}` as INPUT_X-Y; accept INPUT_X_Y too.
    Empty counts as unset (unset inputs arrive as empty strings)."""
    for key in (f"INPUT_{name.upper()}", f"INPUT_{name.upper().replace('_', '-')}"):
        value = env.get(key)
        if value is not None and value.strip():
            return value.strip()
    return None


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _input(env, name)
    if value is None:
        return default
    if value.lower() in ("true", "yes", "1", "on"):
        return True
    if value.lower() in ("false", "no", "0", "off"):
        return False
    raise ValueError(f"input {name} must be true or false, got {value!r}")


def _read_payload(env: Mapping[str, str]) -> Any:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        raise ValueError("GITHUB_EVENT_PATH is not set: kfops-action runs as a step of a GitHub Actions job "
                         "triggered by issue_comment (try `kfc comment` to preview a comment locally)")
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the event payload {path}: {exc}") from None


def run(env: Mapping[str, str], *, github: Any = None, base_config: Any = None,
        handlers: Mapping[str, Any] | None = None) -> int:
    """The Action, with its environment (and, for tests, its ports) passed in."""
    from .chatops.dispatch import dispatch
    from .errors import KfopsError

    try:
        payload = _read_payload(env)
        wait = _flag(env, "wait", True)
        timeout_text = _input(env, "timeout")
        timeout = float(timeout_text) if timeout_text else None
    except ValueError as exc:
        _log(f"error: {exc}")
        return EXIT_USAGE
    event_name = env.get("GITHUB_EVENT_NAME", "")
    config_path = _input(env, "config") or "kfops.yaml"
    token = _input(env, "github_token") or _input(env, "token") or env.get("GITHUB_TOKEN") or None
    repository = env.get("GITHUB_REPOSITORY") or _repository_of(payload)
    if github is None:
        from .chatops.github_rest import GitHubRest

        github = GitHubRest(env.get("GITHUB_API_URL"), repository, token)
    if base_config is None:
        base_config = lambda ref: github.get_file_text(config_path, ref)  # noqa: E731
    if handlers is None:
        from .chatops.handlers import Workspace, pipeline_handlers

        workspace = Workspace(root=Path(env.get("GITHUB_WORKSPACE") or os.getcwd()), config_path=config_path,
                              env=dict(env), wait=wait, timeout=timeout)
        handlers = pipeline_handlers(workspace)
    try:
        outcome = dispatch(event_name, payload, github=github, base_config=base_config, handlers=handlers,
                           config_path=config_path, secrets=[token] if token else [], log=_log)
    except KfopsError as exc:
        text = str(exc).replace(token, "***") if token else str(exc)
        _log(f"error: {text}")
        return exc.exit_code or EXIT_FAILED
    _log(f"kfops: {outcome.outcome}" + (f" ({outcome.detail})" if outcome.detail else ""))
    return outcome.exit_code


def _repository_of(payload: Any) -> str:
    repo = payload.get("repository") if isinstance(payload, dict) else None
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return name if isinstance(name, str) else ""


def main() -> int:
    return run(os.environ)


if __name__ == "__main__":
    sys.exit(main())
