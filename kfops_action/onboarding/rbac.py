"""What kfops may do in the cluster: one list, read by `kfc doctor`, `kfc init` and the docs.

The rules are the Kubernetes calls the code makes, not a guess: `deploy/isvc.py` (get, create,
patch and delete InferenceServices), `deploy/lock.py` (get, create and update the Lease that
serialises deploys), `images/kaniko.py` (create, list and delete Jobs; list pods and read their
logs; read and write the ConfigMap that records built inputs). Keeping them in one place means the
Role that `kfc init` writes, the SelfSubjectAccessReviews that `kfc doctor` asks, and the table in
docs/cluster.md cannot disagree.

The rights are split between two identities, because the workflow job that handles pull-request
code (/build, /run) must never hold a deploy credential: `kfops-build` may only run Kaniko Jobs in
the build namespace, `kfops` may only deploy. Each becomes its own kubeconfig secret, and the deploy
one lives in GitHub Environments that only the deploy job enters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .. import workflow_secrets

SERVICE_ACCOUNT = "kfops"              # the deploy identity, bound only to DEPLOY_ROLE
BUILD_SERVICE_ACCOUNT = "kfops-build"  # the build identity, bound only to BUILD_ROLE
DEPLOY_ROLE = "kfops-deployer"
BUILD_ROLE = "kfops-image-builder"
DEPLOY_SECRET = workflow_secrets.DEPLOY_KUBECONFIG  # an environment secret: only the deploy job sees it
BUILD_SECRET = workflow_secrets.BUILD_KUBECONFIG    # a repository secret: the pipeline job's kubeconfig


@dataclass(frozen=True)
class Rule:
    """Verbs on one resource. `optional`: kfops degrades without it instead of failing."""

    group: str
    resource: str
    verbs: tuple[str, ...]
    why: str
    subresource: str | None = None
    optional: bool = False

    @property
    def name(self) -> str:
        """`inferenceservices.serving.kserve.io`, `pods/log`: as kubectl and RBAC errors say it."""
        base = self.resource + (f"/{self.subresource}" if self.subresource else "")
        return f"{base}.{self.group}" if self.group else base

    def policy_rule(self) -> dict[str, Any]:
        """The rule as it goes into a Role's `rules`."""
        resource = self.resource + (f"/{self.subresource}" if self.subresource else "")
        return {"apiGroups": [self.group], "resources": [resource], "verbs": list(self.verbs)}


DEPLOY_RULES: tuple[Rule, ...] = (
    Rule("serving.kserve.io", "inferenceservices", ("get", "create", "patch", "delete"),
         "/deploy reads, creates and patches the InferenceService; deletes a failed first deploy "
         "and the candidate of a RawDeployment replace"),
    Rule("coordination.k8s.io", "leases", ("get", "create", "update"),
         "the Lease that lets one deploy per environment run at a time"),
)

BUILD_RULES: tuple[Rule, ...] = (
    Rule("batch", "jobs", ("create", "get", "list", "delete"),
         "one Kaniko Job per image; deleted on timeout or interruption"),
    Rule("", "pods", ("get", "list"), "find the build pod of each Job"),
    Rule("", "pods", ("get",), "the last lines of a failed build's log", subresource="log"),
    Rule("", "configmaps", ("get", "create", "patch"),
         "record built inputs so unchanged images are not rebuilt (without it: always rebuild)",
         optional=True),
)


@dataclass(frozen=True)
class Identity:
    """One service account, the Role it is bound to, and the GitHub secret its kubeconfig becomes.

    One object per identity so that the manifest `kfc init` writes, its next steps and `kfc doctor`
    name the same account, Role and secret for the same rights.
    """

    service_account: str
    role: str
    rules: tuple[Rule, ...]
    secret: str
    job: str               # the workflow job that uses the secret
    in_environments: bool  # an environment secret (of the deploy Environments), not a repository secret

    @property
    def token_secret(self) -> str:
        """The Secret with the account's long-lived token, which its kubeconfig is built from."""
        return f"{self.service_account}-token"

    def manifests(self, home: str, namespaces: Iterable[str]) -> list[dict[str, Any]]:
        """The account in `home`, its token Secret, and its Role bound to it in each of `namespaces`.

        The token Secret is the portable way to a kubeconfig (the API server's token controller
        fills it in); `kubectl create token` gives a short-lived one instead.
        """
        out: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": self.service_account, "namespace": home}},
            {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
             "metadata": {"name": self.token_secret, "namespace": home,
                          "annotations": {"kubernetes.io/service-account.name": self.service_account}}}]
        for namespace in dict.fromkeys(namespaces):
            out += [role(self.role, namespace, self.rules),
                    role_binding(self.role, namespace, home, self.service_account)]
        return out


BUILDER = Identity(BUILD_SERVICE_ACCOUNT, BUILD_ROLE, BUILD_RULES, BUILD_SECRET,
                   "the pipeline job (/build, /run, /build_run)", in_environments=False)
DEPLOYER = Identity(SERVICE_ACCOUNT, DEPLOY_ROLE, DEPLOY_RULES, DEPLOY_SECRET,
                    "the deploy job (/deploy, /staging_deploy)", in_environments=True)


def role(name: str, namespace: str, rules: Iterable[Rule]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "kfops"}},
            "rules": [r.policy_rule() for r in rules]}


def role_binding(name: str, namespace: str, subject_namespace: str, service_account: str) -> dict[str, Any]:
    """Role `name` for one service account. No default account: binding a Role to the wrong one of
    the two identities is exactly the mistake the split exists to prevent."""
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "kfops"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": service_account,
                          "namespace": subject_namespace}]}


def describe(rules: Iterable[Rule]) -> str:
    """`get, create inferenceservices.serving.kserve.io; get leases.coordination.k8s.io`."""
    return "; ".join(f"{', '.join(r.verbs)} {r.name}" for r in rules)


def markdown_table(rules: Iterable[Rule]) -> str:
    """The rules as the docs show them."""
    lines = ["| resource | verbs | why |", "|---|---|---|"]
    for r in rules:
        lines.append(f"| `{r.name}` | {', '.join(r.verbs)} | {r.why}"
                     + (" (optional)" if r.optional else "") + " |")
    return "\n".join(lines)
