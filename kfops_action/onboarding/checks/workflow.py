"""Do the repository's workflows run kfops with the permissions each command needs?

Read from the files in .github/workflows (no GitHub call): the job-level `permissions:` (else the
workflow's) of every job that uses kfops/action, against what its commands do. A job that names no
permissions gets the repository's default token permissions, often read-only since 2023, and then
fails on its first comment with "Resource not accessible by integration".
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from . import Context, Result, fail, ok, rel, warn

NAME = "workflow"
NEEDS: dict[str, dict[str, str]] = {
    "pipeline": {"contents": "read", "pull-requests": "write", "statuses": "write"},
    "deploy": {"contents": "write", "pull-requests": "write", "statuses": "write", "deployments": "write",
               "checks": "read"},  # the CI checks deployment.gates.required_checks reads
    "chat": {"contents": "read", "pull-requests": "write"},
    "authorize": {"contents": "read", "pull-requests": "write"},
    "follow-up": {"contents": "read", "pull-requests": "write", "statuses": "write"},
}
COMMANDS = {"pipeline": ("/build", "/run", "/build_run"), "deploy": ("/deploy", "/staging_deploy", "/rollback", "/undeploy", "/lock", "/unlock"),
            "chat": ("/help", "/status", "/cancel"), "authorize": ("every command: who may run it",),
            "follow-up": ("the scheduled follow-up",)}
_LEVEL = {"none": 0, "read": 1, "write": 2}


def repository_root(start: Path) -> Path:
    out = subprocess.run(["git", "-C", str(start), "rev-parse", "--show-toplevel"], capture_output=True,
                         text=True, timeout=10)
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else start


def check(ctx: Context) -> list[Result]:
    import yaml

    base = ctx.config.base_dir if ctx.config is not None else ctx.cwd
    folder = repository_root(base) / ".github" / "workflows"
    found: list[Result] = []
    for path in sorted(list(folder.glob("*.yml")) + list(folder.glob("*.yaml"))):
        try:
            workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            found.append(warn(NAME, f"{rel(path, ctx.cwd)} cannot be read: {exc}", "fix the YAML"))
            continue
        if isinstance(workflow, dict):
            found += _workflow(workflow, rel(path, ctx.cwd))
    if not found:
        return [warn(NAME, f"no workflow in {rel(folder, ctx.cwd)} uses kfops/action: pull-request comments get "
                           "no answer", "`kfc init` writes .github/workflows/kfops.yml and kfops-followup.yml")]
    return found


def _workflow(workflow: dict[str, Any], where: str) -> list[Result]:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    scheduled = isinstance(triggers, dict) and "schedule" in triggers
    results = []
    for job_id, job in (workflow.get("jobs") or {}).items():
        if not isinstance(job, dict) or not any("kfops/action" in str(s.get("uses", ""))
                                                for s in job.get("steps") or [] if isinstance(s, dict)):
            continue
        accept = any(isinstance(s, dict) and isinstance(s.get("with"), dict) and s["with"].get("stage") == "accept"
                     for s in job.get("steps") or [])
        kind = "authorize" if accept else _kind(str(job.get("if", "")), scheduled)
        granted = job.get("permissions", workflow.get("permissions"))
        results.append(_verdict(where, job_id, kind, granted))
    return results


def _kind(condition: str, scheduled: bool) -> str:
    """From the job's `if:`: the comment's prefix (workflows before the authorize job), or the
    authorize job's `job` output it runs on (workflows/kfops.yml)."""
    positive = re.sub(r"!\s*startsWith\([^)]*\)", "", condition)
    routed = re.search(r"outputs\.job\s*==\s*'(\w+)'", condition)
    if routed and routed.group(1) in ("pipeline", "deploy", "chat"):
        return routed.group(1)
    if "'/deploy'" in positive or "'/staging_deploy'" in positive:
        return "deploy"
    if "'/build'" in positive or "'/run'" in positive:
        return "pipeline"
    return "follow-up" if scheduled and "comment" not in condition else "chat"


def _verdict(where: str, job_id: str, kind: str, granted: Any) -> Result:
    label = f"{where} job {job_id} ({', '.join(COMMANDS[kind])})"
    if granted is None:
        return warn(NAME, f"{label} sets no permissions: it gets the repository's default token permissions",
                    "add `permissions:` to the job: " + _spell(NEEDS[kind]))
    if isinstance(granted, str):
        granted = {scope: ("write" if granted == "write-all" else "read") for scope in NEEDS[kind]}
    missing = {scope: level for scope, level in NEEDS[kind].items()
               if _LEVEL.get(str((granted or {}).get(scope, "none")), 0) < _LEVEL[level]}
    if missing:
        return fail(NAME, f"{label} lacks {_spell(missing)}", "set the job's permissions to " + _spell(NEEDS[kind]),
                    COMMANDS[kind])
    return ok(NAME, f"{label}: permissions {_spell(NEEDS[kind])} granted")


def _spell(scopes: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in scopes.items()) + "}"
