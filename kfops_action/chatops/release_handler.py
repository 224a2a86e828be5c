"""/rollback [ENVIRONMENT] and /undeploy [ENVIRONMENT]: change what an environment serves without a new model.

    settings (base branch) -> someone else's /lock? -> rollback / undeploy (deploy Lease held)
    -> GitHub deployment -> report here, and in the pull request whose release was rolled back

Accepted on any open pull request, whatever it contains (as github/branch-deploy's rollback):
an incident does not wait for the right pull request to be found. The release being rolled back
is named by the InferenceService's own provenance annotations (kfops/pull-request, run, commit),
so the pull request that made it is told too, and loses the "Deployed-to-<env>" label: it no
longer says what serves. A freeze (`/lock --global`) does not stop a rollback (it stops new
releases, not the way back); another person's lock on the environment does.

Nothing here reads the pull request's files; the cluster credential comes from the deploy job.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import KfopsError
from ..github.render import Link, code
from . import deploy_rules as rules
from . import replies
from .deploy_handler import _steps_table, _workflow_url, interrupts_raise, kube_client
from .dispatch import CommandContext, Result

if TYPE_CHECKING:
    from ..deploy import DeployResult
    from .handlers import Workspace

_PR_REF = re.compile(r"(?P<repo>[^#\s]+)#(?P<number>\d+)\Z")


def released_pr(provenance: dict[str, str], repository: str) -> int | None:
    """The number of the pull request (of this repository) that made the release, if known."""
    match = _PR_REF.match(provenance.get("pr") or "")
    if not match or match["repo"].lower() != repository.lower():
        return None
    return int(match["number"])


def serving(result: DeployResult) -> str:
    """What the environment serves after the operation (an undeployed one: nothing)."""
    return "nothing (the InferenceService was deleted)" if result.strategy == "undeploy" and result.succeeded \
        else result.serving


def lock_annotations(context: CommandContext, environment: str, operation: str,
                     workspace: Workspace) -> dict[str, str]:
    """The deploy Lease's record of this operation (who, from where), like a deploy's."""
    from ..deploy import annotations as ann

    event = context.event
    out = {ann.ACTOR: event.user, ann.PR: f"{event.repository}#{context.pull.number}",
           ann.ENVIRONMENT: environment, ann.PREFIX + "operation": operation, ann.REPOSITORY: event.repository}
    url = _workflow_url(workspace.env)
    if url:
        out[ann.WORKFLOW_RUN] = url
    return out


def handle_release(context: CommandContext, *, workspace: Workspace) -> Result:
    """/rollback and /undeploy."""
    from ..deploy.errors import DeployError, LockHeld
    from ..deploy.rollback import NothingToDo, rollback, undeploy
    from ..deploy.sticky_lock import StickyLocks

    command, event = context.command, context.event
    operation = command.name
    environment = command.target or "production"
    verb = "rolled back" if operation == "rollback" else "undeployed"
    settings = rules.settings_for(environment, context.base.data, context.base.source)
    if isinstance(settings, rules.Refusal):
        return Result.of("refused", summary=f"Not {verb}: {settings.reason}")
    name, namespace = str(settings["inference_service"]), str(settings["namespace"])
    kube = kube_client(workspace.env, add_secret=context.add_secret)
    steps: list[Any] = []

    def on_step(step: Any) -> None:
        steps.append(step)
        context.report.update(force=False, table=_steps_table(steps))

    context.report.update(state="deploying", summary=f"{'Rolling back' if operation == 'rollback' else 'Undeploying'} "
                                                     f"{environment} ({namespace}/{name}).")
    try:
        StickyLocks(kube, namespace).check(environment, name, actor=event.user,
                                           include_global=operation != "rollback")
        engine = rollback if operation == "rollback" else undeploy
        with interrupts_raise():
            result, released = engine(kube, environment=environment, settings=settings, on_step=on_step,
                                      lock_annotations=lock_annotations(context, environment, operation, workspace))
    except (LockHeld, NothingToDo) as exc:
        table = {"table": _steps_table(steps)} if steps else {}
        fix = f" {exc.fix[0].upper()}{exc.fix[1:]}." if exc.fix else ""
        return Result.of("refused", summary=f"Not {verb}: {exc.what}.{fix}", **table)
    except DeployError as exc:
        result = exc.result
        if result is not None:
            context.report.update(force=False, table=_steps_table(result.steps), details=_details(result, settings))
        raise
    return _succeeded(context, workspace, settings, result, released, verb)


def _succeeded(context: CommandContext, workspace: Workspace, settings: Any, result: DeployResult,
               released: dict[str, str], verb: str) -> Result:
    command, event, gh = context.command, context.event, context.github
    github: Any = gh
    environment = result.environment
    origin = released_pr(released, event.repository)
    deployment = _record_deployment(context, workspace, result, released)
    if deployment:
        context.log(deployment)
    label = rules.label_for(environment, settings)
    if origin is not None:
        try:
            github.remove_label(origin, label)
        except KfopsError as exc:
            context.report.warning(f"the label {label} could not be removed from #{origin}: {exc.what}")
    here = context.report.comment.url
    what = (f"{environment} was rolled back by @{event.user} from #{context.pull.number}"
            if command.name == "rollback" else f"{environment} was undeployed by @{event.user} from #{context.pull.number}")
    if origin is not None and origin != context.pull.number:
        lines = [f"**{what}**: this pull request's release (run {code(released.get('run_id') or '?')}) no longer "
                 "serves.", "", result.message + ".", ""]
        if here:
            lines.append(f"Details: {here}")
        try:
            github.post_comment(origin, context.scrubber.scrub(replies.report("\n".join(lines))))
        except KfopsError as exc:
            context.report.warning(f"#{origin} could not be told: {exc.what}")
    summary = f"{environment.capitalize()} {verb}: {result.message}."
    if origin is not None:
        summary += f" The release came from #{origin}" + (
            " (this pull request)." if origin == context.pull.number else ", which was told.")
    record = {"kind": command.name, "v": 1, "key": str(event.comment_id), "environment": environment,
              "pr": context.pull.number, "requested_by": event.user,
              "isvc": f"{result.namespace}/{result.isvc}", "revision_before": result.revision_before,
              "revision": result.revision_after, "serving": serving(result), "released": released,
              "released_pr": origin, "succeeded": True}
    return Result.of("succeeded", summary=summary, details=_details(result, settings, released),
                     table=_steps_table(result.steps), state_data=record)


def _record_deployment(context: CommandContext, workspace: Workspace, result: DeployResult,
                       released: dict[str, str]) -> str | None:
    """GitHub's view: a rollback is a deployment of what serves again (success marks the rolled-back
    one inactive, as GitHub does for every new success); an undeploy marks the environment's
    deployment of the removed commit inactive. A courtesy: failures are warnings."""
    github: Any = context.github
    environment, event = result.environment, context.event
    try:
        if context.command.name == "rollback":
            ref = str(github.repository().get("default_branch") or context.pull.base_ref or "main")
            deployment = github.create_deployment(
                sha=ref, environment=environment, production=rules.production_like(
                    environment, rules.environments(context.base.data).get(environment)),
                description=f"rollback to {result.revision_after} by @{event.user}",
                payload={"task": "rollback", "revision": result.revision_after, "rolled_back": released,
                         "pr": context.pull.number}, key=str(event.comment_id))
            github.set_deployment_status(deployment, state="success", environment_url=result.url,
                                         log_url=_workflow_url(workspace.env),
                                         description=f"rolled back to {result.revision_after}")
            return f"GitHub deployment {deployment}: rollback to {result.revision_after}"
        commit = released.get("commit")
        found = github.deployments(sha=commit, environment=environment) if commit else []
        if not found:
            return None
        github.set_deployment_status(found[0]["id"], state="inactive", log_url=_workflow_url(workspace.env),
                                     description=f"undeployed by @{event.user}")
        return f"GitHub deployment {found[0]['id']} marked inactive"
    except KfopsError as exc:
        context.report.warning(f"the GitHub deployment could not be recorded: {exc.what}")
        return None


def _details(result: DeployResult, settings: Any, released: dict[str, str] | None = None) -> list[tuple[str, object]]:
    details: list[tuple[str, object]] = [("Environment", result.environment),
                                         ("InferenceService", f"{settings['namespace']}/{settings['inference_service']}")]
    if result.revision_before:
        details.append(("Was serving", result.revision_before))
    if released:
        origin = released.get("pr")
        details.append(("Release", f"run {released.get('run_id', '?')} from {origin or '?'}"
                                   + (f" at {released['commit'][:7]}" if released.get("commit") else "")))
    details.append(("Serving now", serving(result)))
    if result.url:
        details.append(("URL", Link(result.url, result.url)))
    return details
