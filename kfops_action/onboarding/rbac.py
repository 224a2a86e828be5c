"""What kfops may do in the cluster: one list, read by `kfc doctor`, `kfc init` and the docs.

The rules are the Kubernetes calls the code makes, not a guess: `deploy/isvc.py` (get, create,
patch and delete InferenceServices), `deploy/lock.py` (get, create and update the Lease that
serialises deploys), `images/kaniko.py` (create, list and delete Jobs; list pods and read their
logs; read and write the ConfigMap that records built inputs). Keeping them in one place means the
Role that `kfc init` writes, the SelfSubjectAccessReviews that `kfc doctor` asks, and the table in
docs/cluster.md cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SERVICE_ACCOUNT = "kfops"
DEPLOY_ROLE = "kfops-deployer"
BUILD_ROLE = "kfops-image-builder"


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


def role(name: str, namespace: str, rules: Iterable[Rule]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "kfops"}},
            "rules": [r.policy_rule() for r in rules]}


def role_binding(name: str, namespace: str, subject_namespace: str,
                 service_account: str = SERVICE_ACCOUNT) -> dict[str, Any]:
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
