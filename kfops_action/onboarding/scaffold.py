"""The files `kfc init` writes, rendered from the answers.

kfops.yaml is written as commented text (not dumped from a dict) because people read and edit it;
the text is then parsed and validated against the schema before anything is written, so `kfc init`
can never leave an invalid config behind. The workflows are the ones in the repository's
`workflows/` folder (packaged copies, kept equal by tests/test_init.py), changed only where the
answers require it (cookie authentication, the docker builder's registry login).
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..workflow_secrets import workflow_line
from .answers import Answers
from . import rbac

SCHEMA_FILE = "kfops.schema.json"
DEPLOY_DIR = "deploy"
TEMPLATE_FILE = f"{DEPLOY_DIR}/inference-service.yaml"
SAMPLE_FILE = f"{DEPLOY_DIR}/sample-request.json"
CLUSTER_FILE = f"{DEPLOY_DIR}/kfops-cluster.yaml"
QUICKSTART_PIPELINE = "pipeline.py"
WORKFLOWS = (".github/workflows/kfops.yml", ".github/workflows/kfops-followup.yml")
DOCS = "https://github.com/kfops/action/blob/main/docs"


@dataclass(frozen=True)
class File:
    """A file to write: `path` relative to the repository root, `why` for the summary."""

    path: str
    text: str
    why: str


def template(name: str) -> str:
    return resources.files("kfops_action.onboarding").joinpath("templates", *name.split("/")).read_text("utf-8")


def files(answers: Answers) -> list[File]:
    """Everything `kfc init` writes for these answers, in the order it reports them."""
    out = [File("kfops.yaml", kfops_yaml(answers), "the kfops configuration"),
           File(SCHEMA_FILE, json.dumps(_schema(), indent=2) + "\n",
                "the JSON Schema of kfops.yaml, for editor completion and checking")]
    out += [File(path, workflow(path.rsplit("/", 1)[1], answers), why) for path, why in zip(
        WORKFLOWS, ("answers /build_run, /deploy, /help... in pull requests",
                    "finishes the reports of long runs (every 20 minutes)"))]
    if answers.pipeline is None:
        out.append(File(QUICKSTART_PIPELINE, template("quickstart/pipeline.py.txt"),
                        "a small working pipeline (make data, train, evaluate): replace it with yours"))
    quick = answers.pipeline is None
    if answers.deploys and answers.template is None:
        out.append(File(TEMPLATE_FILE, template("quickstart/inference-service.yaml" if quick
                                                else "inference-service.yaml"),
                        "the KServe InferenceService /deploy renders" + ("" if quick else ": set the model format")))
    if answers.deploys and answers.sample == SAMPLE_FILE:
        out.append(File(SAMPLE_FILE, template("quickstart/sample-request.json" if quick else "sample-request.json"),
                        "the request the endpoint check sends to a new model"
                        + ("" if quick else ": make it a real input of your model")))
    if answers.uses_cluster_identity:
        out.append(File(CLUSTER_FILE, cluster_manifest(answers),
                        "namespaces, service accounts and RBAC for a cluster admin to apply once"))
    return out


def _schema() -> dict[str, Any]:
    from ..config.validation import schema

    return schema()


# -- kfops.yaml -----------------------------------------------------------------------------------


def kfops_yaml(a: Answers) -> str:
    pipeline = a.pipeline
    file, function = (pipeline.file, pipeline.function) if pipeline else (QUICKSTART_PIPELINE, "training_pipeline")
    lines = [
        f"# yaml-language-server: $schema={SCHEMA_FILE}",
        "#",
        "# kfops configuration, written by `kfc init`. Every key: `kfc schema`, or the reference:",
        f"#   {DOCS}/config-reference.md",
        "# Check the whole setup with `kfc doctor`.",
        "# Paths are relative to this file. Secrets never go here: name the variable that holds them.",
        "",
        "version: 1",
        "",
        "# The Kubeflow pipeline. The only section `kfc --set` / `--config-override` and PR comments",
        "# (`/build_run --set pipeline.parameters.epochs=5`) may change.",
        "pipeline:",
        f"  file: {file}",
        _c(f"  function: {function}", "the @dsl.pipeline function"),
        _c(f"  name: {_scalar(a.name)}", "pipeline name on Kubeflow"),
    ]
    if a.description:
        lines.append(f"  description: {_scalar(a.description)}")
    lines.append(_c(f"  experiment: {_scalar(a.experiment or a.name)}", "runs are grouped under this experiment"))
    if a.namespace:
        lines.append(_c(f"  namespace: {a.namespace}", "Kubeflow profile namespace the runs go into"))
    else:
        lines.append(_c("  # namespace: my-profile", "multi-user Kubeflow: your profile namespace"))
    if a.parameters:
        lines.append(_c("  parameters:", "defaults for the pipeline's inputs, checked when it compiles"))
        lines += [f"    {key}: {_scalar(value)}" for key, value in a.parameters.items()]
    else:
        lines += [_c("  # parameters:", "defaults for the pipeline's inputs, checked when it compiles"),
                  "  #   learning_rate: 0.1"]
    lines += [
        _c("  # root: s3://bucket/prefix", "pipeline root, where artifacts (and the model) are stored"),
        "",
        "# The Kubeflow Pipelines API: used by `kfc run` and the PR commands (not by `--local`).",
        "kubeflow:",
        _c(f"  endpoint: {a.endpoint}", "TODO: your Kubeflow Pipelines API URL"
           if "kubeflow.endpoint" in a.placeholders else "KF_PIPELINES_ENDPOINT or --endpoint override it"),
        "  auth:",
        f"    type: {a.auth}",
    ]
    if a.auth == "token":
        lines.append(_c("    token_env: KF_PIPELINES_TOKEN", "the Action sets it from its kubeflow-token input"))
    elif a.auth == "cookie":
        lines.append(_c("    cookie_env: KF_PIPELINES_COOKIE", "the Action sets it from its kubeflow-cookie input"))
    lines += ["", "# Container images built before each run (`/build`, `kfc build`)."]
    lines += _images(a)
    if a.deploys:
        lines += deployment_section(a)
    lines += [
        "",
        "# Who may run which pull-request command (read from the base branch, never from the PR).",
        "chatops:",
        _c("  allow_forks: false", "never build, run or deploy pull requests from forks"),
        "  commands:",
        "    deploy:",
        _c("      permission: maintain", "production deploys need maintain (or admin)"),
        "    staging_deploy:",
        "      permission: write",
        "",
    ]
    return "\n".join(lines)


def _images(a: Answers) -> list[str]:
    if a.builder == "none":
        return ["images:", _c("  builder: none", "docker (on the runner) or kaniko (in the cluster)")]
    registry = f"  registry: {a.registry}"
    lines = ["images:", f"  builder: {a.builder}",
             _c(registry, "TODO: your registry") if "images.registry" in a.placeholders else registry]
    lines += ["  build:"] if a.images else ["  # build: [{name: trainer, context: docker/trainer}]"]
    for image in a.images:
        lines += [f"    - name: {image.name}", f"      context: {image.context}"]
        if image.dockerfile:
            lines.append(f"      dockerfile: {image.dockerfile}")
    if a.builder == "kaniko":
        kaniko = {"registry_secret": "kfops-registry", **a.kaniko}
        lines += ["  kaniko:", _c(f"    namespace: {a.build_namespace}", f"where the build Jobs run (see {CLUSTER_FILE})")]
        if kaniko.get("image"):
            lines.append(f"    image: {kaniko['image']}")
        if kaniko.get("service_account"):
            lines.append(_c(f"    service_account: {kaniko['service_account']}",
                            "never kfops-build or kfops: build steps run the PR's Dockerfile"))
        else:
            lines.append("    # service_account: the build pods' account. Never kfops-build or kfops: build steps run the PR's "
                         "Dockerfile.")
        if kaniko.get("registry_secret_key"):
            lines.append(_c(f"    registry_secret: {kaniko['registry_secret']}", "a Secret with push rights"))
            lines.append(_c(f"    registry_secret_key: {kaniko['registry_secret_key']}",
                            "the key that holds its docker config.json"))
        else:
            lines.append(_c(f"    registry_secret: {kaniko['registry_secret']}",
                            "a kubernetes.io/dockerconfigjson Secret with push rights"))
        if kaniko.get("resources"):
            lines.append("    resources: " + json.dumps(kaniko["resources"], separators=(", ", ": ")))
    return lines


def deployment_section(a: Answers) -> list[str]:
    """The `deployment:` lines of kfops.yaml (also shown by the next steps when it was left out)."""
    isvc = a.inference_service
    staging_isvc = a.staging_inference_service or isvc + "-staging"
    lines = ["", "# Where /deploy and /staging_deploy release the model with KServe.", "deployment:"]
    for env, namespace, canary, label in (("production", a.production_namespace, 10, "Deployed-to-production"),
                                          ("staging", a.staging_namespace, 100, "Deployed-to-staging")):
        if namespace is None:
            continue
        lines += [
            f"  {env}:",
            f"    namespace: {namespace}",
            f"    inference_service: {isvc if env == 'production' else staging_isvc}",
            f"    template: {a.template or TEMPLATE_FILE}",
            _c(f"    canary_percent: {canary}", "the new model gets 10% until it is promoted"
               if env == "production" else "all traffic at once"),
            f"    label: {label}",
        ]
        if a.sample:
            lines += [_c("    endpoint_check:", "a real request to the new model before it is promoted"),
                      f"      sample: {a.sample}",
                      "      expected_status: 200"]
    return lines


def _c(text: str, comment: str, column: int = 40) -> str:
    """`text` with `# comment` aligned at `column`, so the file reads as a table."""
    return f"{text.ljust(column - 1)} # {comment}"


def _scalar(value: object) -> str:
    """A YAML scalar for `value` (quoted only when YAML would misread it)."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip().removesuffix("\n...").strip()


# -- workflows ------------------------------------------------------------------------------------


def workflow(name: str, a: Answers) -> str:
    """The packaged workflow, with the Kubeflow credential and registry login the answers need."""
    text = template(name)
    token_line = workflow_line("token")
    if a.auth == "cookie":
        text = text.replace(token_line, workflow_line("cookie"))
    elif a.auth == "none":
        text = re.sub(r"\n[ \t]*" + re.escape(token_line), "", text)
    if a.builder == "docker" and a.registry:
        host = a.registry.split("/", 1)[0]
        text = re.sub(r"# registry: \S+", f"registry: {host}", text)
        text = text.replace("# registry-username:", "registry-username:")
        text = text.replace("# registry-password:", "registry-password:")
    return text


# -- the cluster ----------------------------------------------------------------------------------


def cluster_manifest(a: Answers) -> str:
    """Namespaces and kfops' two identities with their Roles, for `kubectl apply -f`.

    Two service accounts, so that the workflow job that handles pull-request code holds only the
    build one: `kfops-build` lives in the build namespace and may only run Kaniko Jobs there;
    `kfops` lives in the production namespace and may only deploy. The deploy account stays out of
    the build namespace: whoever may create Jobs there may run a pod as any account of that
    namespace, or mount any of its Secrets, a deploy token included.
    """
    import yaml

    needed = identities(a)
    namespaces = dict.fromkeys(n for _, home, where in needed for n in (home, *where))
    docs: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                                  for n in namespaces]
    for identity, home, where in needed:
        docs += identity.manifests(home, where)
    header = [
        "# What kfops needs in the cluster, written by `kfc init`. A cluster admin applies it once:",
        f"#   kubectl apply -f {CLUSTER_FILE}",
        "#",
        "# One identity per kind of work, so that the workflow job that handles pull-request code",
        "# (/build, /run) never holds a deploy credential. Each becomes its own kubeconfig secret:",
    ]
    for identity, home, where in needed:
        header += _identity_header(identity, home, where, a)
    if a.builds_in_cluster:
        registry_secret = a.kaniko.get("registry_secret") or "kfops-registry"
        header += ["#", "# The build pods run as neither account (they run the PR's Dockerfile). The registry push "
                        "Secret"]
        if a.kaniko.get("registry_secret_key") == "config.json":
            header += [f"# ({registry_secret}, an Opaque Secret whose key config.json is the docker config) must exist "
                       f"in {a.build_namespace}:",
                       "# the original Kfops' Secret, or kubectl create secret generic "
                       f"{registry_secret} -n {a.build_namespace} --from-file=config.json"]
        else:
            header += [f"# ({registry_secret}, type kubernetes.io/dockerconfigjson) is yours to create:",
                       f"#   kubectl create secret docker-registry {registry_secret} -n {a.build_namespace} ..."]
    if a.builds_in_cluster and a.build_namespace in a.environments.values():
        header += ["#", f"# WARNING: the build namespace {a.build_namespace} is also a deploy namespace. Whoever may",
                   "# create Jobs there may run them as `kfops` and read its token: use a namespace of its own."]
    header += [
        "#",
        "# Build a kubeconfig around each token, store it as the secret named above, and check it with",
        "# `KUBECONFIG=that-file kfc doctor` (its rbac lines say which secret each right belongs to):",
        f"#   {DOCS}/cluster.md",
        "# KServe itself (and Knative, for canaries) must already be installed.",
    ]
    body = yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)
    return "\n".join(header) + "\n---\n" + body


def identities(a: Answers) -> list[tuple[rbac.Identity, str, list[str]]]:
    """(identity, the namespace of its account, the namespaces its Role is granted in) this setup needs."""
    out: list[tuple[rbac.Identity, str, list[str]]] = []
    if a.builds_in_cluster and a.build_namespace:
        out.append((rbac.BUILDER, a.build_namespace, [a.build_namespace]))
    if a.deploys and a.production_namespace:
        out.append((rbac.DEPLOYER, a.production_namespace, list(a.environments.values())))
    return out


def _identity_header(identity: rbac.Identity, home: str, where: list[str], a: Answers) -> list[str]:
    """The manifest's comment on one identity: its rights, the secret it becomes, how to get its token."""
    if identity.in_environments:
        plural = "s" if len(a.environments) > 1 else ""
        stored = (f"{identity.secret}, an environment secret of the GitHub Environment{plural} "
                  f"{' and '.join(a.environments)} (Settings > Environments), used by {identity.job}, "
                  "which alone enters them")
    else:
        stored = f"the repository secret {identity.secret}, used by {identity.job}"
    prose = (f"`{identity.service_account}`, a service account in namespace {home}. Its kubeconfig is {stored}. "
             f"Role {identity.role} in {', '.join(where)}:")
    lines = ["#"] + textwrap.wrap(prose, 100, initial_indent="# - ", subsequent_indent="#   ",
                                       break_on_hyphens=False)
    lines += [f"#     {', '.join(r.verbs)} {r.name}" for r in identity.rules]
    return lines + [
        f"#   Its token (long-lived, in the Secret {identity.token_secret} below):",
        f"#     kubectl -n {home} get secret {identity.token_secret} -o jsonpath='{{.data.token}}' | base64 -d",
        f"#   or a short-lived one: kubectl -n {home} create token {identity.service_account} --duration=24h",
    ]
