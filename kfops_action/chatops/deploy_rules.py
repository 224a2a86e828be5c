"""What must hold before /deploy or /staging_deploy touches the cluster (pure: facts in, verdict out).

One small function per rule, after github/branch-deploy's `src/functions/`; the handler
(deploy_handler.py) gathers the facts through GitHub and ML Metadata and applies them in order.
Each refusal is a sentence for the PR that says what is wrong and how to get past it; `--force`
overrides only the rules about *staleness* (the base branch moved ahead, the model was trained on
an older commit of this PR, the metrics gate), never the ones about *safety* (the base branch must
be the default branch, the PR must be mergeable, approvals, the model must come from this PR).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..github.render import code
from ..pipeline.outputs import MODEL_OUTPUT
from .runs import RunRecord, latest_successful

# The deploy commands and their default environment (`/deploy to qa` names another one).
DEPLOY_COMMANDS = {"deploy": "production", "staging_deploy": "staging"}
# Keys of `deployment` that are not environments (schema.json's pattern excludes them too).
NOT_ENVIRONMENTS = frozenset({"gates"})


@dataclass(frozen=True)
class Refusal:
    """The deploy does not start (nor, from provenance.py, /cancel on that run); `reason` is
    Markdown for the PR."""

    reason: str


@dataclass(frozen=True)
class Chosen:
    """The run whose model is deployed, and what the PR must be told about the choice."""

    run: RunRecord
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Approvals:
    counted: tuple[str, ...] = ()          # approvers of the deployed commit with write access
    stale: tuple[str, ...] = ()            # approved an older commit
    not_counted: tuple[str, ...] = ()      # approved, but may not approve (below write, or the author)


@dataclass(frozen=True)
class Gate:
    """A rule's verdict: refused, or allowed with warnings (e.g. overridden by --force)."""

    refusal: Refusal | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


def short(sha: str | None) -> str:
    return (sha or "?")[:7]


def environments(base: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """`deployment.<name>` of the base branch's kfops.yaml: every environment kfops may act on,
    in the file's order. A pull request's own kfops.yaml never adds one (branch-deploy reads its
    `environment_targets` from the workflow on the default branch for the same reason)."""
    deployment = (base or {}).get("deployment") or {}
    if not isinstance(deployment, Mapping):
        return {}
    return {name: settings for name, settings in deployment.items()
            if name not in NOT_ENVIRONMENTS and isinstance(settings, Mapping)}


def production_like(environment: str, settings: Mapping[str, Any] | None) -> bool:
    """`deployment.<env>.production`: the production rules (require_staging, the metrics gate,
    one approval, /deploy's permission, no /undeploy) apply. Only `production` by default, as
    branch-deploy's `production_environments` lists them explicitly."""
    value = (settings or {}).get("production")
    return environment == "production" if value is None else bool(value)


def settings_for(environment: str, base: Mapping[str, Any] | None, source: str) -> Mapping[str, Any] | Refusal:
    """`deployment.<environment>` of the base branch's kfops.yaml."""
    deployment = (base or {}).get("deployment") or {}
    settings = deployment.get(environment) if isinstance(deployment, Mapping) else None
    if not isinstance(settings, Mapping):
        return Refusal(f"`deployment.{environment}` is not configured in {source}: kfops does not know where "
                       f"to deploy. Add it on the base branch (see examples/quickstart/kfops.yaml).")
    if not settings.get("template"):
        return Refusal(f"`deployment.{environment}.template` is not set in {source}: nothing says which "
                       "InferenceService to deploy.")
    return settings


def check_default_branch(base_ref: str, default_branch: str | None) -> Refusal | None:
    """Deploy settings, the template (possibly Python code) and the gate come from the base branch:
    a PR against a side branch would pick its own (unprotected) rules. Only the default branch."""
    if not default_branch:
        return Refusal("GitHub did not say which branch is the repository's default: kfops deploys only pull "
                       "requests against it.")
    if base_ref != default_branch:
        return Refusal(f"this pull request targets `{base_ref}`, not the default branch `{default_branch}`. "
                       "Deploys take their settings, template and gate from the base branch, so only pull "
                       f"requests against `{default_branch}` may deploy: change the base branch of the pull "
                       "request, or merge there first.")
    return None


def check_mergeable(pull: Mapping[str, Any], number: int) -> Gate:
    """GitHub's own view: conflicts refuse; `blocked` (branch protection) is only a warning,
    because kfops' own kfops/deploy status may be what blocks it until the deploy ends."""
    mergeable, state = pull.get("mergeable"), str(pull.get("mergeable_state") or "unknown")
    if pull.get("merged"):
        return Gate(Refusal(f"pull request #{number} is already merged."))
    if mergeable is None:
        return Gate(Refusal(f"GitHub has not finished checking whether #{number} can be merged "
                            "(`mergeable` is still unknown): comment the command again in a minute."))
    if mergeable is False or state == "dirty":
        return Gate(Refusal(f"pull request #{number} cannot be merged (GitHub reports `{state}`: usually "
                            "conflicts with the base branch). Resolve them, run `/build_run` on the new head, "
                            "then deploy it."))
    if state == "blocked":
        return Gate(warnings=(f"GitHub reports #{number} as `blocked` (branch protection: required reviews or "
                              "checks). If it is still blocked after the deploy, the merge will fail and this "
                              "comment will say so.",))
    return Gate()


def check_behind(behind_by: int, base_ref: str, *, command: str, force: bool, merges: bool) -> Gate:
    """The base branch moved ahead of the PR. With a merge, what lands on the base branch would be
    the PR *plus* commits the deployed model was not trained with, so /deploy refuses (unless
    --force); without a merge (/staging_deploy) it is only a warning."""
    if behind_by <= 0:
        return Gate()
    what = (f"`{base_ref}` has {behind_by} commit{'s' if behind_by != 1 else ''} that this pull request does "
            "not have")
    if not merges:
        return Gate(warnings=(f"{what}; the deployed model was trained without them.",))
    if force:
        return Gate(warnings=(f"{what}; deployed anyway because of `--force`: the merge result was not "
                              "trained.",))
    return Gate(Refusal(f"{what}: merge or rebase `{base_ref}` into the pull request, run `/build_run` on the "
                        f"new head, then `/{command}`; or comment `/{command} --force` to deploy the model "
                        "trained without them."))


def count_approvals(reviews: Iterable[Mapping[str, Any]], *, head_sha: str, author: str | None,
                    may_approve: Callable[[str], bool]) -> Approvals:
    """Each reviewer's latest approving or change-requesting review counts, as GitHub counts them.
    An approval counts only for the commit being deployed, from someone with write access or more
    (as branch protection counts them), and never the PR author's."""
    latest: dict[str, Mapping[str, Any]] = {}
    for review in reviews:
        user = review.get("user") if isinstance(review.get("user"), Mapping) else {}
        login = str(user.get("login") or "")
        state = str(review.get("state") or "").upper()
        if not login or state in ("COMMENTED", "PENDING"):
            continue
        latest[login.lower()] = {**review, "_login": login}
    counted, stale, not_counted = [], [], []
    for review in latest.values():
        if str(review.get("state")).upper() != "APPROVED":
            continue
        login = str(review["_login"])
        if author and login.lower() == author.lower():
            not_counted.append(login)
        elif review.get("commit_id") != head_sha:
            stale.append(login)
        elif may_approve(login):
            counted.append(login)
        else:
            not_counted.append(login)
    return Approvals(tuple(sorted(counted)), tuple(sorted(stale)), tuple(sorted(not_counted)))


def check_approvals(approvals: Approvals, required: int, head_sha: str) -> Refusal | None:
    if required <= 0 or len(approvals.counted) >= required:
        return None
    have = len(approvals.counted)
    notes = []
    if approvals.stale:
        notes.append(f"approvals of an older commit do not count ({', '.join(approvals.stale)})")
    if approvals.not_counted:
        notes.append(f"approvals without write access or by the author do not count "
                     f"({', '.join(approvals.not_counted)})")
    extra = f" ({'; '.join(notes)})" if notes else ""
    return Refusal(f"this deploy needs {required} approving review{'s' if required != 1 else ''} of "
                   f"{short(head_sha)}, it has {have}{extra}. `--force` does not override approvals; "
                   "`deployment.<env>.required_approvals` on the base branch sets how many (production: 1 by "
                   "default).")


def choose_run(records: Sequence[RunRecord], *, head_sha: str, pr: int, command: str,
               run_id: str | None = None, force: bool = False) -> Chosen | Refusal:
    """The run whose model is deployed: from this PR's provenance records (written by the action
    itself), the newest successful one of the current head; or `--run-id`, which must be one of
    this PR's. A model trained on an older commit is refused unless --force (both SHAs shown)."""
    mine = [r for r in records if r.pr in (pr, 0)]
    if run_id is not None:
        named = [r for r in mine if r.run_id == run_id]
        if not named:
            return Refusal(f"run {code(run_id)} was not started from this pull request: kfops deploys only "
                           "models trained by this PR's own `/run` or `/build_run` (`/status` lists them).")
        run = named[-1]
        if not run.succeeded:
            return Refusal(f"run {code(run_id)} did not succeed (it is {run.state.lower()}): only a model from "
                           "a successful run is deployed.")
        return _check_commit(run, head_sha, command, force)
    found = latest_successful(mine, sha=head_sha)
    if found is not None:
        return Chosen(found)
    older = latest_successful(mine)
    if older is None:
        active = [r for r in mine if r.open and r.sha == head_sha]
        wait = (f" Run {code(active[-1].run_id)} of this commit is still {active[-1].state.lower()}: deploy "
                "when it has succeeded.") if active else ""
        return Refusal(f"no successful run of this pull request yet: comment `/build_run` first, then "
                       f"`/{command}` once it has succeeded.{wait}")
    return _check_commit(older, head_sha, command, force)


def _check_commit(run: RunRecord, head_sha: str, command: str, force: bool) -> Chosen | Refusal:
    if run.sha == head_sha:
        return Chosen(run)
    both = (f"run {code(run.run_id)} trained the model on {short(run.sha)} (`{run.sha}`), but the pull "
            f"request is now at {short(head_sha)} (`{head_sha}`)")
    if force:
        return Chosen(run, (f"{both}; deployed anyway because of `--force`.",))
    return Refusal(f"{both}. Run `/build_run` on the new head and deploy that, or comment "
                   f"`/{command} --run-id {run.run_id} --force` to deploy the older model.")


def model_candidates(run: RunRecord, model: Mapping[str, Any] | None) -> list[str] | Refusal:
    """Artifact ids that may be the model, from the run's record (KFP lists outputs by id).

    With `deployment.<env>.model` the ids of that task's output; otherwise every output named
    `model` (the handler then asks ML Metadata which of the run's artifacts is a system.Model
    when there is none)."""
    artifacts = run.artifacts
    if model:
        task, output = model.get("task"), str(model.get("output") or MODEL_OUTPUT)
        found = [(t, o, ids) for t, outputs in artifacts.items() for o, ids in outputs.items()
                 if (task is None or t == task) and o == output]
        ids = [i for _, _, group in found for i in group]
        if not ids:
            where = f"task {code(task)} output {code(output)}" if task else f"output {code(output)}"
            return Refusal(f"run {code(run.run_id)} has no {where} (`deployment.<env>.model` on the base "
                           f"branch names it); its outputs: {_outputs(artifacts)}.")
        return ids
    return [i for outputs in artifacts.values() for o, group in outputs.items() if o == MODEL_OUTPUT
            for i in group]


def _outputs(artifacts: Mapping[str, Mapping[str, Sequence[str]]]) -> str:
    names = [f"{t}/{o}" for t, outputs in artifacts.items() for o in outputs]
    return ", ".join(code(n) for n in names) or "none recorded"


def storage_uri(uri: str) -> str:
    """KFP writes `minio://bucket/key` for its bundled MinIO, which KServe's storage initializer
    does not know; MinIO speaks S3, so it is `s3://bucket/key` there (with the S3 endpoint set on
    the service account, as for any S3-compatible store)."""
    return "s3://" + uri[len("minio://"):] if uri.startswith("minio://") else uri


def required_approvals(environment: str, settings: Mapping[str, Any]) -> int:
    """`deployment.<env>.required_approvals`, else 1 for a production-like environment, 0 for the
    others. Production needs a second person by default: one approval of the deployed commit is
    what stops a PR author (or one maintainer) from shipping alone; other environments stay open
    for trying things. kfops_action/config/schema.json states the same defaults."""
    value = settings.get("required_approvals")
    if value is None:
        return 1 if production_like(environment, settings) else 0
    return int(value)


def merges(environment: str, settings: Mapping[str, Any]) -> bool:
    """`deployment.<env>.merge`, else only `production` merges (as before named environments)."""
    value = settings.get("merge")
    return environment == "production" if value is None else bool(value)


def label_for(environment: str, settings: Mapping[str, Any]) -> str:
    return str(settings.get("label") or f"Deployed-to-{environment}")
