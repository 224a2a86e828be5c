"""What to do after `kfc init`: the secrets to create, what to edit, the cluster side, a first try.

Derived from the answers, so it names exactly the secrets this setup's workflows read and nothing
else (a setup without deploys or Kaniko builds needs no kubeconfig at all). Where each secret goes
matters as much as its name: the build kubeconfig is a repository secret, which the pipeline job
(the one that handles pull-request code) reads; the deploy kubeconfig is an environment secret of
the GitHub Environments only the deploy job enters, so pull-request code never holds it and the
Environments' protection rules (required reviewers) apply to every deploy.
"""

from __future__ import annotations

from dataclasses import replace

from ..workflow_secrets import KUBEFLOW_SECRETS
from . import rbac
from .answers import DEFAULT_PRODUCTION, DEFAULT_STAGING, Answers
from .scaffold import CLUSTER_FILE, SAMPLE_FILE, TEMPLATE_FILE, deployment_section, identities


def _kubeconfig(identity: rbac.Identity) -> str:
    return (f"{identity.secret}: a kubeconfig for the `{identity.service_account}` service account of "
            f"{CLUSTER_FILE}, read by {identity.job}")


def secrets(a: Answers) -> list[str]:
    """Repository secrets, `NAME: what it holds`, for Settings > Secrets and variables > Actions."""
    out = []
    if a.auth in KUBEFLOW_SECRETS:
        what = {"token": "a bearer token for the Kubeflow Pipelines API",
                "cookie": "a Kubeflow session cookie (authservice_session=...)"}[a.auth]
        out.append(f"{KUBEFLOW_SECRETS[a.auth][0]}: {what}")
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
    model = _model_step(a)
    if model:
        lines += ["", f"{step}. {model[0]}"] + [f"   {m}" for m in model[1:]]
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


def _model_step(a: Answers) -> list[str]:
    """What the model check of `kfc init` found, when it changes what to do next (else nothing)."""
    model, pipeline = a.model, a.pipeline.spec if a.pipeline else "the pipeline"
    if model is None:
        return []
    if not model.known and a.deploys:
        return [f"Check the model output: {pipeline} did not compile here ({model.error}), so kfc init could not "
                "check that it outputs a model for /deploy. Once it compiles, `kfc doctor` checks it (its model line)."]
    if model.none and not a.deploys:
        example = replace(a, production_namespace=DEFAULT_PRODUCTION, staging_namespace=DEFAULT_STAGING)
        return [f"No deployment section was written: {model.describe_missing(pipeline)}.",
                "To deploy with /deploy once it outputs one (e.g. a training step's `model: Output[Model]`):",
                "- add this section to kfops.yaml (namespaces to taste):",
                *[f"  {line}" for line in deployment_section(example)[2:]],
                f"- `kfc init --skip-existing` then writes {TEMPLATE_FILE} and {SAMPLE_FILE} (kfops.yaml is kept),",
                "- and `kfc doctor` checks it all."]
    if len(model.models) > 1 and a.deploys:
        listed = ", ".join(str(m) for m in model.models)
        return [f"Choose the model: {pipeline} has {len(model.models)} model outputs ({listed}) and /deploy will "
                "not guess: set deployment.production.model (task, output) and the same for staging in kfops.yaml."]
    return []
