"""May the identity kfops uses do what /deploy and the Kaniko builder will ask?

Asked with SelfSubjectAccessReview, the API server's own answer to "may I <verb> <resource> in
<namespace>?", for every rule in onboarding/rbac.py. Nothing is created or changed. A denial is
listed by verb and resource, with the Role that grants it (the one `kfc init` writes to
kfops-cluster.yaml).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import rbac
from . import Context, Result, fail, ok, short, skip, warn

NAME = "rbac"


def check(ctx: Context) -> list[Result]:
    if ctx.config is None or not ctx.needs_cluster:
        return [skip(NAME, "nothing configured needs the cluster")]
    if not ctx.facts.get("kube_ok"):
        return [skip(NAME, "needs the cluster (see the cluster line)")]
    client = ctx.kube()[0]
    results: list[Result] = []
    for name, env in ctx.environments.items():
        command = "/deploy" if name == "production" else "/staging_deploy"
        results.append(_review(client, env["namespace"], rbac.DEPLOY_RULES, rbac.DEPLOY_ROLE, f"{command} ({name})",
                               (command,)))
    kaniko = ctx.section("images").get("kaniko") or {}
    if ctx.builder == "kaniko" and kaniko.get("namespace"):
        results.append(_review(client, kaniko["namespace"], rbac.BUILD_RULES, rbac.BUILD_ROLE, "the Kaniko builder",
                               ("/build", "/build_run", "kfc build")))
    return results


def allowed(client: Any, namespace: str, rule: rbac.Rule, verb: str) -> tuple[bool | None, str]:
    """(allowed?, reason) from one SelfSubjectAccessReview; None when the review itself failed."""
    from kubernetes import client as k

    review = k.V1SelfSubjectAccessReview(spec=k.V1SelfSubjectAccessReviewSpec(
        resource_attributes=k.V1ResourceAttributes(group=rule.group, resource=rule.resource, verb=verb,
                                                   namespace=namespace, subresource=rule.subresource)))
    try:
        answer = k.AuthorizationV1Api(client).create_self_subject_access_review(review, _request_timeout=10)
    except Exception as exc:  # noqa: BLE001
        return None, short(exc)
    status = answer.status
    return bool(status.allowed), status.reason or status.evaluation_error or ""


def _review(client: Any, namespace: str, rules: Iterable[rbac.Rule], role: str, what: str,
            users: tuple[str, ...]) -> Result:
    denied: list[str] = []
    optional: list[str] = []
    for rule in rules:
        refused = []
        for verb in rule.verbs:
            answer, reason = allowed(client, namespace, rule, verb)
            if answer is None:
                return warn(NAME, f"{namespace}: cannot ask the API server ({reason})",
                            "check the cluster line; SelfSubjectAccessReview needs Kubernetes 1.6+")
            if not answer:
                refused.append(verb)
        if refused:
            (optional if rule.optional else denied).append(f"{', '.join(refused)} {rule.name}")
    all_rules = rbac.describe(rules)
    grant = (f"bind the identity to Role {role} in namespace {namespace} (kfops-cluster.yaml from `kfc init`), "
             f"which allows: {all_rules}")
    if denied:
        return fail(NAME, f"{namespace}: {what} is denied " + "; ".join(denied), grant, users)
    if optional:
        return warn(NAME, f"{namespace}: {what} may do what it needs, but not " + "; ".join(optional)
                    + " (unchanged images will be rebuilt every time)", grant)
    return ok(NAME, f"{namespace}: {what} may {all_rules}")
