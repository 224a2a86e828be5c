"""What to do after `kfc init`: the secrets to create, what to edit, the cluster side, a first try.

Derived from the answers, so it names exactly the secrets this setup's workflows read and nothing
else (a setup without deploys or Kaniko builds needs no kubeconfig at all). Where each secret goes
matters as much as its name: the build kubeconfig is a repository secret, which the pipeline job
(the one that handles pull-request code) reads; the deploy kubeconfig is an environment secret of
the GitHub Environments only the deploy job enters, so pull-request code never holds it and the
Environments' protection rules (required reviewers) apply to every deploy.
"""

from __future__ import annotations

from . import rbac
from .answers import Answers
from .scaffold import CLUSTER_FILE, SAMPLE_FILE, TEMPLATE_FILE, identities


def _kubeconfig(identity: rbac.Identity) -> str:
    return (f"{identity.secret}: a kubeconfig for the `{identity.service_account}` service account of "
            f"{CLUSTER_FILE}, read by {identity.job}")


def secrets(a: Answers) -> list[str]:
    """Repository secrets, `NAME: what it holds`, for Settings > Secrets and variables > Actions."""
    out = []
    if a.auth == "token":
        out.append("KFOPS_KUBEFLOW_TOKEN: a bearer token for the Kubeflow Pipelines API")
    elif a.auth == "cookie":
        out.append("KFOPS_KUBEFLOW_COOKIE: a Kubeflow session cookie (authservice_session=...)")
    if a.builds_in_cluster:
        out.append(_kubeconfig(rbac.BUILDER))
    if a.builder == "docker":
        out.append("the registry password: pass it as registry-password in .github/workflows/kfops.yml "
                   "(GITHUB_TOKEN works for the GitHub registry)")
    return out


def environment_secrets(a: Answers) -> list[str]:
    """Secrets of each GitHub Environment in `a.environments`: only the deploy credential."""
    return [_kubeconfig(rbac.DEPLOYER)] if a.deploys else []


def render(a: Answers, *, from_kfops: bool = False) -> str:
    lines = ["", "Next steps:", "", "1. Create these repository secrets (Settings > Secrets and variables > Actions):"]
    lines += [f"   - {s}" for s in secrets(a)] or ["   - none needed"]
    if a.builder == "docker":
        lines.append("   and the repository variable KFOPS_RUNTIME=python (the docker builder needs the runner's docker)")
    step = 2
    if a.deploys:
        names = " and ".join(a.environments)
        lines += ["", f"{step}. Create the GitHub Environment{'s' if len(a.environments) > 1 else ''} {names} "
                      "(Settings > Environments), each with this environment secret:"]
        lines += [f"   - {s}" for s in environment_secrets(a)]
        lines += ["   Only the deploy job enters them. Add required reviewers to production: every /deploy then "
                  "waits for an approval.",
                  f"   Not a repository secret: every job of every workflow could read {rbac.DEPLOY_SECRET} there."]
        step += 1
    edits = []
    if "kubeflow.endpoint" in a.placeholders:
        edits.append("kfops.yaml: kubeflow.endpoint (your Kubeflow Pipelines API URL)")
    if "images.registry" in a.placeholders:
        edits.append("kfops.yaml: images.registry (where images are pushed)")
    if a.deploys and a.pipeline is not None and not from_kfops:
        edits.append(f"{TEMPLATE_FILE}: the predictor for your model (its format or container)")
        edits.append(f"{SAMPLE_FILE}: a real request body for your model")
    if edits:
        lines += ["", f"{step}. Edit:"] + [f"   - {e}" for e in edits]
        step += 1
    cluster = []
    if a.uses_cluster_identity:
        accounts = [f"`{identity.service_account}`" for identity, _, _ in identities(a)]
        what = "service accounts and their" if len(accounts) > 1 else "service account and its"
        cluster.append(f"kubectl apply -f {CLUSTER_FILE}   (namespaces, the {' and '.join(accounts)} {what} Roles)")
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
