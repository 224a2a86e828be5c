"""`kfops-action` / `python -m kfops_action`: the GitHub Action's entry point, kept thin.

It reads the GitHub Actions environment and hands the event to the dispatcher:

    GITHUB_EVENT_NAME, GITHUB_EVENT_PATH   the event and its JSON payload
    GITHUB_REPOSITORY, GITHUB_API_URL      where to answer (GitHub Enterprise: its API URL)
    GITHUB_WORKSPACE                       the checked-out pull request (for /build, /run)
    INPUT_GITHUB-TOKEN (or GITHUB_TOKEN)   the token to answer with
    INPUT_CONFIG                           kfops.yaml's path in the repository (default kfops.yaml)
    INPUT_FOLLOW-MINUTES                   how long to follow a started run before handing it over
                                           (default 300; 0 hands over at once; INPUT_WAIT=false too)
    INPUT_BOT-LOGIN                        the login the token posts as, when not github-actions[bot]
    INPUT_MERGE-METHOD                     how /deploy merges (merge, squash, rebase; read by the handler)
    INPUT_STAGE                            `accept` (the workflow's authorize job: authorize and route,
                                           chatops/queue.py) or `run` (default: carry the command out)
    KUBECONFIG                             the cluster /deploy releases to (the `kubeconfig` input)

Outputs (GITHUB_OUTPUT): command, run-id, run-url, deployed-url, and `result`, all of them and the
outcome as one JSON object; `job` and `environment`, the accept stage's routing (which job of the
workflow runs the command: pipeline, deploy, chat, or none).

Events: `issue_comment` runs the command in the comment; `schedule` and `workflow_dispatch` run
the hand-over sweep: every run the action left open on an open PR is re-read from Kubeflow and
its report finished (tracking.finish_open_runs).

Everything GitHub goes through kfops_action.github (GitHubRepo): its client follows GitHub's
retry and rate-limit rules, every secret in the environment is masked (`::add-mask::`) and
scrubbed from what is posted or logged, and the request count ends the job log. The comment text
is only ever read from the event file, never from the command line or a shell: see the security
rules in DESIGN.md. Only the standard library (and requests) is imported before the dispatcher
has acknowledged a command; kfp and kubernetes come in with the handler that needs them.

Exit status: 0 when the event was handled (including ignored events and refusals, which are
answered in the PR, and runs handed over), 1 when a command failed, 2 when the job itself is
misconfigured.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SWEEP_EVENTS = ("schedule", "workflow_dispatch")


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


def follow_policy(env: Mapping[str, str]) -> Any:
    """How long a started run is followed before it is handed over (follow-minutes, wait)."""
    from .chatops.tracking import FollowPolicy

    policy = FollowPolicy()
    text = _input(env, "follow_minutes")
    if text is not None:
        try:
            minutes = float(text)
        except ValueError:
            raise ValueError(f"input follow-minutes must be a number of minutes, got {text!r}") from None
        if not minutes >= 0:
            raise ValueError(f"input follow-minutes must be 0 or more, got {text!r}")
        policy = dataclasses.replace(policy, minutes=minutes)
    if not _flag(env, "wait", True):
        policy = dataclasses.replace(policy, minutes=0.0)
    return policy


def run(env: Mapping[str, str], *, github: Any = None, base_config: Any = None,
        handlers: Mapping[str, Any] | None = None) -> int:
    """The Action, with its environment (and, for tests, its ports) passed in."""
    from .chatops.dispatch import dispatch
    from .errors import KfopsError

    try:
        payload = _read_payload(env)
        policy = follow_policy(env)
    except ValueError as exc:
        _log(f"error: {exc}")
        return EXIT_USAGE
    event_name = env.get("GITHUB_EVENT_NAME", "")
    stage = _stage(env)
    if stage is None:
        _log(f"error: input stage must be accept or run, not {_input(env, 'stage')!r}")
        return EXIT_USAGE
    config_path = _input(env, "config") or "kfops.yaml"
    token = _input(env, "github_token") or _input(env, "token") or env.get("GITHUB_TOKEN") or None
    root = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    if github is None:
        from .github.repo import GitHubRepo

        repository = env.get("GITHUB_REPOSITORY") or _repository_of(payload)
        try:
            github = GitHubRepo.from_env({**env, "GITHUB_REPOSITORY": repository}, token=token, log=_log)
        except (KfopsError, ValueError) as exc:
            _log(f"error: {exc}")
            return EXIT_USAGE
    scrubber = getattr(github, "scrubber", None)
    if scrubber is None:
        from .github.scrub import Scrubber

        scrubber = Scrubber([token])
    taken = _take_kubeconfig(env, scrubber)
    if taken is not None:
        _log(f"error: {scrubber.scrub(str(taken))}")
        return EXIT_USAGE
    if base_config is None:
        base_config = lambda ref: github.get_file_text(config_path, ref)  # noqa: E731
    identity = getattr(github, "identity", None)
    own_logins = [identity.login] if identity is not None and identity.type != "Bot" else []
    try:
        if event_name in SWEEP_EVENTS:
            code = _sweep(env, github, base_config, config_path, root, scrubber)
        else:
            from .chatops.queue import ACCEPT_STAGE, run_with_queue

            started = time.monotonic()

            def handlers_for(taken_over: bool) -> Mapping[str, Any]:
                """The job follows runs for `follow-minutes` in all: a command GitHub displaced
                (run first, queue.py) gets half of what is left, the job's own command the rest."""
                if handlers is not None:
                    return handlers
                from .chatops.handlers import Workspace, command_handlers

                left = max(0.0, policy.minutes - (time.monotonic() - started) / 60)
                follow = dataclasses.replace(policy, minutes=left / 2 if taken_over else left)
                return command_handlers(Workspace(root=root, config_path=config_path, env=dict(env), follow=follow))

            def dispatch_one(event: Any, queued: Any = None, taken_over: bool = False, take_turn: Any = None) -> Any:
                return dispatch(event_name, event, github=github, base_config=base_config,
                                handlers=handlers_for(taken_over), config_path=config_path, own_logins=own_logins,
                                scrubber=scrubber, env=env, log=_log, stage=stage, queued=queued,
                                take_turn=take_turn)

            if stage == ACCEPT_STAGE:
                outcome = dispatch_one(payload)
            else:
                outcome = run_with_queue(event_name, payload, github=github, own_logins=own_logins,
                                         dispatch_one=dispatch_one, log=lambda m: _log(scrubber.scrub(m)))
            _log(scrubber.scrub(f"kfops: {outcome.outcome}" + (f" ({outcome.detail})" if outcome.detail else "")))
            code = outcome.exit_code
            write_outputs(outcome, env, scrub=scrubber.scrub)
    except KfopsError as exc:
        _log(f"error: {scrubber.scrub(str(exc))}")
        code = exc.exit_code or EXIT_FAILED
    if hasattr(github, "summary") and getattr(github, "client", None) is not None and github.client.stats.requests:
        _log(github.summary())
    return code


def _stage(env: Mapping[str, str]) -> str | None:
    """The `stage` input: accept (the authorize job) or run (default); None when it is neither."""
    from .chatops.queue import RUN_STAGE, STAGES

    stage = (_input(env, "stage") or RUN_STAGE).lower()
    return stage if stage in STAGES else None


def action_outputs(outcome: Any) -> dict[str, str]:
    """The action's outputs (action.yml): command, run-id, run-url, deployed-url, and all of it
    plus the outcome as one JSON object (`result`); `job` and `environment` route the workflow
    after its authorize job ("none" when no job is to run: ignored, refused, answered)."""
    report = dict(getattr(outcome, "report", None) or {})
    data = report.get("state_data") or {}
    kind = data.get("kind")
    run = data.get("run") if isinstance(data.get("run"), Mapping) else {}
    run_id = run.get("id") if kind == "run" else data.get("run_id") if kind == "deploy" else None
    run_url = report.get("run_url") or run.get("url") or (data.get("run_url") if kind == "deploy" else None)
    deployed_url = data.get("url") if kind == "deploy" and data.get("succeeded") else None
    result: dict[str, Any] = {
        "command": outcome.command or "", "outcome": outcome.outcome, "state": report.get("state"),
        "exit_code": outcome.exit_code, "run_id": run_id, "run_url": run_url, "deployed_url": deployed_url}
    if kind == "deploy":
        result.update({k: data.get(k) for k in ("environment", "isvc", "model_uri", "revision", "serving",
                                                 "merged", "rolled_back", "error")})
    if report.get("errors"):
        result["errors"] = list(report["errors"])
    return {"command": outcome.command or "", "run-id": run_id or "", "run-url": run_url or "",
            "deployed-url": deployed_url or "", "job": getattr(outcome, "job", "") or "none",
            "environment": getattr(outcome, "environment", "") or "",
            "result": json.dumps(result, sort_keys=True, separators=(",", ":"), default=str)}


def write_outputs(outcome: Any, env: Mapping[str, str], *, scrub: Any = None) -> None:
    """To $GITHUB_OUTPUT, scrubbed; nothing outside Actions (no GITHUB_OUTPUT)."""
    if not env.get("GITHUB_OUTPUT"):
        return
    from .github import actions_commands

    for name, value in action_outputs(outcome).items():
        actions_commands.set_output(name, scrub(value) if scrub else value, env=env)


def _sweep(env: Mapping[str, str], github: Any, base_config: Any, config_path: str, root: Path,
           scrubber: Any) -> int:
    """schedule / workflow_dispatch: finish the reports of runs handed over by earlier jobs."""
    from .chatops.tracking import count_open_runs, finish_open_runs
    from .github import actions_commands
    from .github.followup import settle_after_sweep

    log = lambda m: _log(scrubber.scrub(m))  # noqa: E731
    sweep = finish_open_runs(github, base_config=base_config, config_path=config_path, env=env, base_dir=root,
                             add_secret=scrubber.add, log=log)
    _log(f"kfops: sweep: {sweep.summary()}")
    lines = [f"### kfops: {sweep.summary()}"] + [f"- {scrubber.scrub(e)}" for e in sweep.errors]
    if not sweep.errors:  # nothing pending: the schedule is switched off until the next hand-over
        off = settle_after_sweep(github.switch_workflow, env, pending=sweep.running,
                                 count_pending=lambda: count_open_runs(github), log=log)
        if off:
            lines.append("Nothing is pending: this workflow's schedule is off until a job hands a run over.")
    actions_commands.append_step_summary("\n".join(lines), env=env)
    return EXIT_FAILED if sweep.errors else EXIT_OK


def _take_kubeconfig(env: Mapping[str, str], scrubber: Any) -> Exception | None:
    """The `kubeconfig` input's file (KFOPS_KUBECONFIG_EPHEMERAL=1: action.yml wrote it for this
    job) into memory, and the file removed, before anything runs pull-request code. A kubeconfig
    that is not one stops the job here, with its clear error (kubeconfig.py)."""
    path = (env.get("KUBECONFIG") or "").split(os.pathsep)[0].strip()
    if env.get("KFOPS_KUBECONFIG_EPHEMERAL") != "1" or not path:
        return None
    from .errors import KfopsError
    from .kubeconfig import take

    try:
        take(path, add_secret=scrubber.add)
    except KfopsError as exc:
        return exc
    return None


def _repository_of(payload: Any) -> str:
    repo = payload.get("repository") if isinstance(payload, dict) else None
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return name if isinstance(name, str) else ""


USAGE = """usage: kfops-action [--help | --version]

The kfops GitHub Action. It takes no arguments: it runs as a step of a GitHub Actions job and
reads the job's environment (GITHUB_EVENT_PATH, GITHUB_API_URL, INPUT_*), answering the
pull-request comment in the event (issue_comment), or finishing handed-over runs (schedule,
workflow_dispatch). Use it through action.yml (`uses: kfops/action@v1`); to preview how a comment
would be answered, run `kfc comment "/build_run ..."`.
"""


def main(argv: list[str] | None = None) -> int:
    """`--help` and `--version` answer without touching GitHub, so that the image and the python
    environment can be checked (the release's dry run runs the image with --help)."""
    from .closed_stdout import write_stdout  # `kfops-action --help | head -1` ends quietly (141)

    args = sys.argv[1:] if argv is None else argv
    if args in (["--help"], ["-h"]):
        return write_stdout(USAGE)
    if args == ["--version"]:
        from . import __version__

        return write_stdout(f"kfops-action {__version__}\n")
    if args:
        print(f"kfops-action takes no arguments (got {' '.join(args)!r})\n\n{USAGE}", end="", file=sys.stderr)
        return EXIT_USAGE
    return run(os.environ)


if __name__ == "__main__":
    sys.exit(main())
