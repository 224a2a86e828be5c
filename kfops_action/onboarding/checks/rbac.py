"""May the identity kfops uses do what /deploy and the Kaniko builder will ask?

Asked with SelfSubjectAccessReview, the API server's own answer to "may I <verb> <resource> in
<namespace>?", for every rule in onboarding/rbac.py. Nothing is created or changed. A denial is
listed by verb and resource, with the Role that grants it (the one `kfc init` writes to
kfops-cluster.yaml).

The rights belong to two identities (onboarding/rbac.py): the build rights to the kubeconfig stored
as KFOPS_BUILD_KUBECONFIG, the deploy rights to KFOPS_KUBECONFIG. `kfc doctor` runs with one
kubeconfig and asks about both, so every line names the secret its rights belong to: with the build
kubeconfig, denied deploy rights are expected (and the other way round).
"""

from __future__ import annotations

from typing import Any

from .. import rbac
from . import Context, Result, deploy_command, fail, ok, short, skip, warn

NAME = "rbac"


def check(ctx: Context) -> list[Result]:
    if ctx.config is None or not ctx.needs_cluster:
        return [skip(NAME, "nothing configured needs the cluster")]
    if not ctx.facts.get("kube_ok"):
        return [skip(NAME, "needs the cluster (see the cluster line)")]
    client = ctx.kube()[0]
    results: list[Result] = []
    for name, env in ctx.environments.items():
        command = deploy_command(name)
        results.append(_review(client, env["namespace"], rbac.DEPLOYER, f"{command} ({name})", (command,)))
    kaniko = ctx.section("images").get("kaniko") or {}
    if ctx.builder == "kaniko" and kaniko.get("namespace"):
        results.append(_review(client, kaniko["namespace"], rbac.BUILDER, "the Kaniko builder",
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


def _review(client: Any, namespace: str, identity: rbac.Identity, what: str, users: tuple[str, ...]) -> Result:
    denied: list[str] = []
    optional: list[str] = []
    for rule in identity.rules:
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
    all_rules = rbac.describe(identity.rules)
    who = f"{what} with {identity.secret}"
    grant = (f"bind the {identity.secret} identity (service account {identity.service_account}) to Role "
             f"{identity.role} in namespace {namespace} (kfops-cluster.yaml from `kfc init`), which allows: "
             f"{all_rules}. If KUBECONFIG holds another secret's kubeconfig, this denial is right: check these rights "
             f"with {identity.secret}'s")
    if denied:
        return fail(NAME, f"{namespace}: {who} is denied " + "; ".join(denied), grant, users)
    if optional:
        return warn(NAME, f"{namespace}: {who} may do what it needs, but not " + "; ".join(optional)
                    + " (unchanged images will be rebuilt every time)", grant)
    return ok(NAME, f"{namespace}: {who} may {all_rules}")
