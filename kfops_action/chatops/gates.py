"""The release gates of `deployment.gates` (pure: facts in, verdict out), after github/branch-deploy.

Each gate is a team's policy, so it is read from the base branch only (a pull request cannot relax
it) and `--force` does not override it (unlike the staleness rules of deploy_rules.py): a gate
that should not apply is changed in kfops.yaml, in a reviewed commit. Every refusal names the
gate, the evidence and the way past it. deploy_handler.py gathers the facts and applies them.

- `allow_drafts` (default false, as branch-deploy's `draft_permitted_targets` defaults to none):
  a draft says "not ready"; true, or the environments a draft may deploy to.
- `required_checks` (default `all`): CI on the deployed commit, check runs and commit statuses
  alike, kfops' own (`kfops/*` statuses, `kfops /*` check runs) never counted. `all`: every check
  reported must have passed, and none may still be running (a commit with no checks passes, as in
  branch-deploy); a list: each named check must have reported and passed (a missing one refuses,
  it may not have started yet); `none`: no check is read. `ignored_checks` are left out of `all`.
  Passed means success, neutral or skipped (GitHub's own rollup counts those as passing).
- `require_staging` (default false, like branch-deploy's `enforced_deployment_order`): /deploy
  needs a GitHub deployment of this very commit to `staging`, created by the action, that reached
  `success` (later `inactive` only means something newer is on staging now).
- `max_model_age` (default none): the run whose model is deployed finished at most this long ago,
  by Kubeflow's record of the run (provenance.py re-reads it), not the status comment's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..github.check_runs import is_own
from ..github.render import code, duration
from .deploy_rules import Refusal, short

OWN_STATUS_PREFIX = "kfops/"
PASSED = frozenset({"success", "neutral", "skipped"})
_AGE = re.compile(r"^([1-9][0-9]*)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
WHERE = "`deployment.gates` on the base branch"


@dataclass(frozen=True)
class Gates:
    required_checks: str | tuple[str, ...] = "all"     # "all", "none", or check names
    ignored_checks: tuple[str, ...] = ()
    require_staging: bool = False
    allow_drafts: bool | tuple[str, ...] = False
    max_model_age: str | None = None                    # as written, e.g. "7d"

    @classmethod
    def from_config(cls, base: Mapping[str, Any] | None) -> Gates:
        """From the base branch's kfops.yaml (already validated against the schema)."""
        deployment = (base or {}).get("deployment") or {}
        data = deployment.get("gates") if isinstance(deployment, Mapping) else None
        data = data if isinstance(data, Mapping) else {}
        checks = data.get("required_checks", "all")
        drafts = data.get("allow_drafts", False)
        return cls(required_checks=checks if isinstance(checks, str) else tuple(str(c) for c in checks),
                   ignored_checks=tuple(str(c) for c in data.get("ignored_checks") or ()),
                   require_staging=bool(data.get("require_staging", False)),
                   allow_drafts=drafts if isinstance(drafts, bool) else tuple(str(e) for e in drafts),
                   max_model_age=str(data["max_model_age"]) if data.get("max_model_age") else None)

    @property
    def reads_checks(self) -> bool:
        return self.required_checks != "none"


@dataclass(frozen=True)
class Check:
    """One CI result on a commit, check run or commit status alike."""

    name: str
    outcome: str        # passed, failed, pending
    detail: str         # GitHub's conclusion, status or state, e.g. failure, in_progress
    kind: str           # "check run" or "status"


def age_limit(text: str) -> timedelta:
    """`7d` -> 7 days (the schema already holds the form: a number and m, h, d or w)."""
    match = _AGE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an age: a number and m, h, d or w, e.g. 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def ci_checks(check_runs: Iterable[Mapping[str, Any]], statuses: Iterable[Mapping[str, Any]]) -> list[Check]:
    """The commit's current CI results, kfops' own left out. Check runs: the newest of each name
    (GitHub's `filter=latest` already, but two workflows may share a job name); statuses: the
    first of each context in GitHub's newest-first list is its current state."""
    found: dict[tuple[str, str], Check] = {}
    newest: dict[str, int] = {}
    for run in check_runs:
        name = str(run.get("name") or "")
        if not name or is_own(name):
            continue
        rid = int(run.get("id") or 0)
        if name in newest and newest[name] >= rid:
            continue
        newest[name] = rid
        status, conclusion = str(run.get("status") or ""), run.get("conclusion")
        if status != "completed" or not conclusion:
            found[("check run", name)] = Check(name, "pending", status or "queued", "check run")
        else:
            outcome = "passed" if conclusion in PASSED else "failed"
            found[("check run", name)] = Check(name, outcome, str(conclusion), "check run")
    for status in statuses:
        context = str(status.get("context") or "")
        if not context or context.startswith(OWN_STATUS_PREFIX) or ("status", context) in found:
            continue
        state = str(status.get("state") or "")
        outcome = {"success": "passed", "pending": "pending"}.get(state, "failed")
        found[("status", context)] = Check(context, outcome, state, "status")
    return sorted(found.values(), key=lambda c: c.name.lower())


def check_drafts(gates: Gates, *, draft: bool, environment: str, number: int, command: str) -> Refusal | None:
    allowed = gates.allow_drafts if isinstance(gates.allow_drafts, bool) else environment in gates.allow_drafts
    if not draft or allowed:
        return None
    return Refusal(f"pull request #{number} is a draft, and drafts do not deploy to {environment} "
                   f"(gate `allow_drafts` of {WHERE}). Mark it ready for review, then comment `/{command}` "
                   "again; or list the environments drafts may deploy to, e.g. `allow_drafts: [staging]`.")


def check_ci(gates: Gates, checks: Sequence[Check], *, sha: str, command: str) -> Refusal | None:
    """The `required_checks` gate over `ci_checks(...)` of the deployed commit."""
    if not gates.reads_checks:
        return None
    ignored = {n.lower() for n in gates.ignored_checks}
    if gates.required_checks == "all":
        counted = [c for c in checks if c.name.lower() not in ignored]
        missing: list[str] = []
    else:
        wanted = {n.lower(): n for n in gates.required_checks}
        counted = [c for c in checks if c.name.lower() in wanted]
        have = {c.name.lower() for c in counted}
        missing = [name for key, name in wanted.items() if key not in have]
    failed = [c for c in counted if c.outcome == "failed"]
    pending = [c for c in counted if c.outcome == "pending"]
    if not (failed or pending or missing):
        return None
    evidence = []
    if failed:
        evidence.append("failing: " + _list(failed))
    if pending:
        evidence.append("not finished: " + _list(pending))
    if missing:
        evidence.append("not reported: " + ", ".join(code(n) for n in missing))
    which = ("every check on the commit" if gates.required_checks == "all"
             else "the checks it names")
    fix = []
    if failed:
        fix.append("fix what fails and push (then `/build_run` the new head)")
    if pending or missing:
        fix.append(f"wait until they have passed and comment `/{command}` again")
    return Refusal(f"CI has not passed on {short(sha)}: {'; '.join(evidence)} (gate `required_checks` of {WHERE}: "
                   f"{which} must have passed; kfops' own checks are not counted). "
                   f"{_sentence('; or '.join(fix))}. `required_checks` (`all`, `none` or a list of names) "
                   "and `ignored_checks` choose which checks count.")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _list(checks: Sequence[Check]) -> str:
    return ", ".join(f"{code(c.name)} ({c.detail})" for c in checks)


def kfops_deployment(deployment: Mapping[str, Any], wrote: Callable[[Mapping[str, Any]], bool]) -> bool:
    """A deployment kfops itself recorded: created by the action's identity (`wrote`, e.g.
    refs.Identity.wrote) with the invocation key kfops puts in every payload (statuses.py). Not
    proof against another workflow holding the same GITHUB_TOKEN identity (see provenance.py)."""
    payload = deployment.get("payload")
    return wrote({"user": deployment.get("creator")}) and isinstance(payload, Mapping) \
        and bool(payload.get("kfops_key"))


def staged(deployments: Iterable[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]], *,
           sha: str) -> tuple[int | None, str | None]:
    """Among kfops' `staging` deployments of `sha` (each with its statuses, newest first): the id
    of one that reached success, else the latest state of the newest one (for the refusal)."""
    last_state = None
    for deployment, statuses in deployments:
        if str(deployment.get("sha") or "") != sha:
            continue
        states = [str(s.get("state") or "") for s in statuses]
        if "success" in states:
            return int(deployment["id"]), "success"
        last_state = last_state or (states[0] if states else "created")
    return None, last_state


def check_staging(gates: Gates, *, environment: str, sha: str, staged_id: int | None,
                  last_state: str | None, production: bool | None = None) -> Refusal | None:
    """`production`: whether `environment` is production-like (deploy_rules.production_like);
    None: only `production` is."""
    production = environment == "production" if production is None else production
    if not production or environment == "staging" or not gates.require_staging or staged_id is not None:
        return None
    seen = (f" (its last staging deploy ended `{last_state}`)" if last_state and last_state != "in_progress"
            else " (its staging deploy has not finished)" if last_state else "")
    return Refusal(f"{short(sha)} has not been deployed to staging successfully{seen}, and gate `require_staging` "
                   f"of {WHERE} asks for it before production. Comment `/staging_deploy`, check the model there, "
                   "then `/deploy`.")


def check_model_age(gates: Gates, *, run_id: str, finished_at: str | None, now: datetime) -> Refusal | None:
    if gates.max_model_age is None:
        return None
    limit = age_limit(gates.max_model_age)
    finished = _parse_time(finished_at)
    if finished is None:
        return Refusal(f"Kubeflow does not say when run {code(run_id)} finished, so gate `max_model_age` "
                       f"({gates.max_model_age}) of {WHERE} cannot be checked. Run `/build_run` for a fresh "
                       "model and deploy that.")
    age = now - finished
    if age <= limit:
        return None
    return Refusal(f"the model of run {code(run_id)} is {_age(age)} old (the run finished "
                   f"{finished.strftime('%Y-%m-%dT%H:%M:%SZ')}, by Kubeflow's record), older than gate "
                   f"`max_model_age` ({gates.max_model_age}) of {WHERE}. Run `/build_run` to train it again, "
                   "then deploy the new run.")


def _age(age: timedelta) -> str:
    if age.days:
        return f"{age.days}d {age.seconds // 3600}h"
    return duration(age.total_seconds())


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.year <= 1970:  # KFP's "not set" is the epoch
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
