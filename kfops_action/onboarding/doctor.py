"""`kfc doctor`: check a kfops setup end to end, one line per finding, each with its fix.

The checks run in the order a request travels (config, pipeline, workflow, Kubeflow, namespace,
cluster, template, model, KServe, namespaces, RBAC, registry, GitHub), so the first failure is usually
the cause of the ones after it; later checks that depend on a failed one say "skip" rather than
repeating its error. Nothing is created, changed or uploaded: every remote call is a read, a
healthz, or a SelfSubjectAccessReview.

Exit code: 1 when any check failed (something a command needs is missing), else 0. Warnings are
things that work but will surprise someone, or that this identity cannot verify.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from .checks import FAIL, OK, SKIP, WARN, Check, Context, Result
from .checks import cluster, config, experiment, github, kserve, kubeflow, namespaces, pipeline, rbac, registry
from .checks import model, template, workflow

#: (name, check) in the order they run; the name is what --only / --skip take.
CHECKS: tuple[tuple[str, Check], ...] = (
    (config.NAME, config.check),
    (pipeline.NAME, pipeline.check),
    (workflow.NAME, workflow.check),
    (kubeflow.NAME, kubeflow.check),
    (experiment.NAME, experiment.check),
    (cluster.NAME, cluster.check),
    (template.NAME, template.check),
    (model.NAME, model.check),
    (kserve.NAME, kserve.check),
    (namespaces.NAME, namespaces.check),
    (rbac.NAME, rbac.check),
    (registry.NAME, registry.check),
    (github.NAME, github.check),
)
CHECK_NAMES = tuple(name for name, _ in CHECKS)
#: What each check reads from an earlier one: run first (quietly) when only the later one is asked for.
NEEDS: dict[str, tuple[str, ...]] = {
    experiment.NAME: (kubeflow.NAME,),
    model.NAME: (pipeline.NAME,),
    kserve.NAME: (cluster.NAME, template.NAME),
    namespaces.NAME: (cluster.NAME, template.NAME),
    rbac.NAME: (cluster.NAME,),
}

TAGS = {OK: "ok  ", WARN: "warn", FAIL: "FAIL", SKIP: "skip"}


def run(ctx: Context, *, only: Sequence[str] = (), skip: Sequence[str] = (),
        on_result: Callable[[Result], None] | None = None) -> list[Result]:
    """Run the checks in order; `on_result` sees each line as soon as it is known.

    The config check always runs (every other check reads the config), and so do the checks a
    wanted one depends on (NEEDS), even when not asked for; their lines are then shown only when
    they failed, since a failure there is why the wanted check is skipped.
    """
    wanted_names = {n for n in CHECK_NAMES if (not only or n in only) and n not in skip}
    required = {config.NAME} | wanted_names
    for name in reversed(CHECK_NAMES):
        if name in required:
            required |= set(NEEDS.get(name, ()))
    results: list[Result] = []
    for name, check in CHECKS:
        wanted = name in wanted_names
        if name not in required:
            continue
        try:
            found = check(ctx)
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            found = [Result(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}",
                            "please report this with the output of kfc doctor")]
        for result in found:
            if not wanted and result.verdict != FAIL:
                continue
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def line(result: Result, width: int = max(len(n) for n in CHECK_NAMES)) -> str:
    """`FAIL  kubeflow    <what is wrong>; fix: <what to do> (blocks /build, /run)`."""
    text = f"{TAGS[result.verdict]}  {result.check.ljust(width)}  {result.message}"
    if result.fix and result.verdict in (FAIL, WARN):
        text += f"; fix: {result.fix}"
    if result.needed_by and result.verdict == FAIL:
        text += f" (blocks {', '.join(result.needed_by)})"
    return text


def summary(results: Sequence[Result]) -> str:
    counts = {v: sum(1 for r in results if r.verdict == v) for v in (OK, WARN, FAIL, SKIP)}
    blocked = sorted({u for r in results if r.verdict == FAIL for u in r.needed_by})
    head = f"{counts[OK]} ok, {counts[WARN]} warnings, {counts[FAIL]} failed, {counts[SKIP]} skipped"
    if counts[FAIL]:
        return head + (f": blocked: {', '.join(blocked)}" if blocked else "")
    return head + (": kfops is ready" if not counts[WARN] else ": kfops can run; read the warnings")


def exit_code(results: Sequence[Result]) -> int:
    return 1 if any(r.verdict == FAIL for r in results) else 0


def main(*, env: Mapping[str, str], cwd: Path, config_path: str | None = None, endpoint: str | None = None,
         kube_context: str | None = None, only: Sequence[str] = (), skip: Sequence[str] = (),
         as_json: bool = False, out: IO[str], kube_factory: Callable[[str | None], Any] | None = None) -> int:
    """What `kfc doctor` does; `kube_factory` lets tests hand in a Kubernetes client."""
    ctx = Context(env=env, cwd=cwd, config_path=config_path, endpoint=endpoint, kube_context=kube_context,
                  kube_factory=kube_factory)

    def secrets() -> list[str]:
        probe = ctx.facts.get("kfp")
        found = _secrets(env) + (probe.connection.secrets() if probe is not None else [])
        return sorted(set(found), key=len, reverse=True)

    def show(result: Result) -> None:
        if not as_json:
            print(_scrub(line(result), secrets()), file=out, flush=True)

    results = run(ctx, only=only, skip=skip, on_result=show)
    if as_json:
        payload = {"results": [r.as_dict() for r in results], "summary": summary(results),
                   "exit_code": exit_code(results)}
        print(_scrub(json.dumps(payload, indent=2), secrets()), file=out)
    else:
        print(summary(results), file=out)
    return exit_code(results)


def _secrets(env: Mapping[str, str]) -> list[str]:
    """Values that must never be printed, whatever a server echoes back."""
    names = ("KF_PIPELINES_TOKEN", "KF_PIPELINES_COOKIE", "GITHUB_TOKEN", "INPUT_GITHUB-TOKEN",
             "KFOPS_REGISTRY_PASSWORD", "INPUT_REGISTRY-PASSWORD", "INPUT_REGISTRY_PASSWORD")
    return [env[n].strip() for n in names if env.get(n, "").strip()]


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if len(secret) >= 4:  # a 1-3 character "secret" would mangle every word that contains it
            text = text.replace(secret, "***")
    return text
