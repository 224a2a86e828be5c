"""/lock [ENVIRONMENT] [reason], /lock --global [reason], /unlock [...], /unlock --global.

The syntax follows github/branch-deploy (`.lock production`, `.lock --global`, `.unlock`), with
the reason as the rest of the line (branch-deploy: `--reason`). Like its sticky locks, a lock
lasts until it is released, and its holder may still deploy; a freeze stops every deploy. Where
kfops differs: the lock lives in the cluster (a Lease, sticky_lock.py) rather than in a branch of
the repository, so a deploy started any other way sees it too, and `/unlock` of someone else's
lock needs what the environment's deploy needs at maintain level (branch-deploy lets anyone who
may deploy remove it). The repository labels `kfops-lock:<scope>` mirror the state for `/status`
(lock_board.py).

A freeze is written into the namespace of every environment in `deployment`; an environment
whose namespace this job's credential cannot reach is named in the report, not silently skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import KfopsError
from . import deploy_rules as rules
from . import lock_board
from .authorize import rank
from .deploy_handler import _workflow_url, kube_client
from .dispatch import CommandContext, Result

if TYPE_CHECKING:
    from .handlers import Workspace

UNLOCK_OTHERS = "maintain"   # level that may release another person's lock


def _targets(context: CommandContext) -> dict[str, Mapping[str, Any]] | Result:
    """{environment: settings} the command acts on; a refusal Result when one is not configured."""
    command = context.command
    configured = lock_board.environments(context.base.data)
    if command.global_lock:
        if not configured:
            return Result.of("refused", summary=f"No environment is configured in {context.base.source} "
                                                "(`deployment.<env>`): there is nothing to freeze.")
        return configured
    environment = command.target or "production"
    settings = rules.settings_for(environment, context.base.data, context.base.source)
    if isinstance(settings, rules.Refusal):
        return Result.of("refused", summary=f"Nothing {command.name}ed: {settings.reason}")
    return {environment: settings}


def handle_lock(context: CommandContext, *, workspace: Workspace) -> Result:
    """/lock and /unlock."""
    from ..deploy.errors import LockHeld
    from ..deploy.sticky_lock import GLOBAL, StickyLocks

    targets = _targets(context)
    if isinstance(targets, Result):
        return targets
    command, event = context.command, context.event
    scope = GLOBAL if command.global_lock else next(iter(targets))
    kube = kube_client(workspace.env, add_secret=context.add_secret)
    done: list[Any] = []
    failed: list[str] = []
    namespaces: dict[str, str] = {}
    for environment, settings in targets.items():
        namespace = str(settings["namespace"])
        if namespace in namespaces.values():
            continue  # one freeze Lease per namespace
        namespaces[environment] = namespace
        isvc = None if command.global_lock else str(settings["inference_service"])
        locks = StickyLocks(kube, namespace)
        try:
            if command.name == "lock":
                lock, _ = locks.take(scope, isvc, actor=event.user, pr=f"{event.repository}#{context.pull.number}",
                                     reason=command.reason, repository=event.repository,
                                     workflow_run=_workflow_url(workspace.env))
                done.append(lock)
            else:
                released = locks.release(scope, isvc, actor=event.user,
                                         override=rank(context.level) >= rank(UNLOCK_OTHERS))
                done.append(released)
        except LockHeld as exc:
            return Result.of("refused", summary=f"Not {command.name}ed: {exc.what}. {exc.fix[0].upper()}{exc.fix[1:]}.")
        except KfopsError as exc:
            if not command.global_lock:
                raise
            failed.append(f"{environment} (namespace {namespace}): {exc.what}")
    if not done:
        raise KfopsError(f"the freeze could not be {'set' if command.name == 'lock' else 'lifted'} anywhere",
                         fix="check the deploy credential's access to the Leases of each namespace",
                         exit_code=1) from None
    for message in failed:
        context.report.warning(f"not {'frozen' if command.name == 'lock' else 'unfrozen'}: {message}")
    _mirror(context, scope, next((lock for lock in done if lock is not None), None))
    what = "the global freeze" if command.global_lock else scope
    where = ", ".join(f"{env} ({ns})" for env, ns in namespaces.items())
    details: list[tuple[str, object]] = [("Scope", what), ("Leases", where)]
    if command.name == "lock":
        lock = done[0]
        details += [("Held by", f"@{lock.actor}"), ("Reason", command.reason or "(none given)")]
        unlock = "/unlock --global" if command.global_lock else (
            "/unlock" if scope == "production" else f"/unlock {scope}")
        if command.global_lock:
            summary = (f"🔒 Every environment is frozen by @{lock.actor}: every deploy is refused until `{unlock}` "
                       "(`/rollback` still works).")
        else:
            summary = (f"🔒 {scope.capitalize()} is locked by @{lock.actor}. Deploys to {scope} by anyone but "
                       f"@{lock.actor} are refused until `{unlock}`.")
        return Result.of("succeeded", summary=summary, details=details, state_data=_record(context, scope, lock))
    held = [lock for lock in done if lock is not None]
    if not held:
        return Result.of("skipped", summary=("No freeze is on" if command.global_lock else f"{what.capitalize()} was not "
                                             "locked") + ": nothing to release.",
                         details=details)
    summary = (f"🔓 The freeze is lifted (it was held by {held[0].describe()})." if command.global_lock else
               f"🔓 {what.capitalize()} is unlocked (it was held by {held[0].describe()}).")
    return Result.of("succeeded", summary=summary, details=details, state_data=_record(context, scope, None))


def _mirror(context: CommandContext, scope: str, lock: Any) -> None:
    """The repository label /status reads; a failure is a warning (the Lease is what counts)."""
    try:
        if context.command.name == "lock" and lock is not None:
            lock_board.show(context.github, lock)
        else:
            lock_board.clear(context.github, scope)
    except KfopsError as exc:
        context.report.warning(f"the label {lock_board.label_name(scope)} (what /status shows) could not be "
                               f"updated: {exc.what}")


def _record(context: CommandContext, scope: str, lock: Any) -> dict[str, Any]:
    event = context.event
    return {"kind": context.command.name, "v": 1, "key": str(event.comment_id), "scope": scope,
            "pr": context.pull.number, "requested_by": event.user,
            "reason": context.command.reason if lock is not None else None,
            "since": lock.since.isoformat() if lock is not None and lock.since else None}
