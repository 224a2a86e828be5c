"""What to do after `kfc init`: the secrets to create, what to edit, the cluster side, a first try.

Derived from the answers, so it names exactly the secrets this setup's workflows read and nothing
else (a setup without deploys or Kaniko builds needs no kubeconfig at all).
"""

from __future__ import annotations

from .answers import Answers
from .scaffold import CLUSTER_FILE, SAMPLE_FILE, TEMPLATE_FILE


def secrets(a: Answers) -> list[str]:
    """`NAME: what it holds`, for Settings > Secrets and variables > Actions."""
    out = []
    if a.auth == "token":
        out.append("KFOPS_KUBEFLOW_TOKEN: a bearer token for the Kubeflow Pipelines API")
    elif a.auth == "cookie":
        out.append("KFOPS_KUBEFLOW_COOKIE: a Kubeflow session cookie (authservice_session=...)")
    if a.uses_cluster_identity:
        out.append(f"KFOPS_KUBECONFIG: a kubeconfig for the `kfops` service account of {CLUSTER_FILE}")
    if a.builder == "docker":
        out.append("the registry password: pass it as registry-password in .github/workflows/kfops.yml "
                   "(GITHUB_TOKEN works for the GitHub registry)")
    return out


def render(a: Answers, *, from_kfops: bool = False) -> str:
    lines = ["", "Next steps:", "", "1. Create these repository secrets (Settings > Secrets and variables > Actions):"]
    lines += [f"   - {s}" for s in secrets(a)] or ["   - none needed"]
    if a.builder == "docker":
        lines.append("   and the repository variable KFOPS_RUNTIME=python (the docker builder needs the runner's docker)")
    edits = []
    if "kubeflow.endpoint" in a.placeholders:
        edits.append("kfops.yaml: kubeflow.endpoint (your Kubeflow Pipelines API URL)")
    if "images.registry" in a.placeholders:
        edits.append("kfops.yaml: images.registry (where images are pushed)")
    if a.deploys and a.pipeline is not None and not from_kfops:
        edits.append(f"{TEMPLATE_FILE}: the predictor for your model (its format or container)")
        edits.append(f"{SAMPLE_FILE}: a real request body for your model")
    if edits:
        lines += ["", "2. Edit:"] + [f"   - {e}" for e in edits]
    step = 3 if edits else 2
    cluster = []
    if a.uses_cluster_identity:
        cluster.append(f"kubectl apply -f {CLUSTER_FILE}   (namespaces, the kfops service account, its Roles)")
    if a.deploys:
        cluster.append("KServe installed, in Serverless (Knative) mode for canary rollouts")
    if a.namespace:
        cluster.append(f"a Kubeflow profile for namespace {a.namespace}, with the token's user as a contributor")
    if cluster:
        lines += ["", f"{step}. In the cluster (an admin, once):"] + [f"   - {c}" for c in cluster]
        step += 1
    lines += ["", f"{step}. Try it:",
              "   - kfc build-run --local     run the pipeline on this machine, offline",
              "   - kfc doctor                check everything above, one line each",
              "   - commit, push, open a pull request and comment /help, then /build_run"]
    return "\n".join(lines)
