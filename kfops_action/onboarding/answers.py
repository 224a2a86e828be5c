"""The few facts `kfc init` needs, from flags, the repository, the environment, or a question.

Order of precedence for each: a flag, then what can be inferred (the one pipeline in the
repository, $KF_PIPELINES_ENDPOINT, Dockerfiles), then a question when standard input is a
terminal, then a default. Every default that is only a placeholder (the endpoint, a registry) is
remembered, so the next steps can say exactly what to edit.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .detect import PipelineFunction, find_dockerfiles, find_pipelines, kubernetes_name
from .model_output import ModelOutputs, inspect

PLACEHOLDER_ENDPOINT = "https://kubeflow.example.com/pipeline"
PLACEHOLDER_REGISTRY = "registry.example.com/your-org"
DEFAULT_PRODUCTION = "ml-production"
DEFAULT_STAGING = "ml-staging"
DEFAULT_BUILD_NAMESPACE = "kfops-builds"

#: ask(question, default, choices) -> answer; non-interactive askers return the default.
Ask = Callable[[str, str, "list[str] | None"], str]


@dataclass(frozen=True)
class Image:
    """One entry of images.build."""

    name: str
    context: str
    dockerfile: str | None = None  # None: Dockerfile in the context


@dataclass
class Answers:
    name: str
    pipeline: PipelineFunction | None          # None: write the quickstart pipeline
    endpoint: str
    namespace: str | None
    auth: str                                  # token, cookie, none
    builder: str                               # none, docker, kaniko
    registry: str | None
    images: list[Image]
    build_namespace: str | None
    production_namespace: str | None           # None: no deployment section
    staging_namespace: str | None
    placeholders: list[str] = field(default_factory=list)  # keys left with a stand-in value
    # Set by `--from-kfops` (kept from the original layout); plain `kfc init` leaves the defaults.
    description: str | None = None
    experiment: str | None = None
    parameters: dict[str, object] = field(default_factory=dict)
    template: str | None = None                # None: deploy/inference-service.yaml
    sample: str | None = "deploy/sample-request.json"
    isvc: str | None = None                    # None: derived from the pipeline name
    staging_inference_service: str | None = None
    kaniko: dict[str, object] = field(default_factory=dict)  # image, service_account, registry_secret, resources
    # What /deploy would take as the model (None: not checked, e.g. the quickstart pipeline, which has one).
    model: ModelOutputs | None = None

    @property
    def deploys(self) -> bool:
        return self.production_namespace is not None

    @property
    def inference_service(self) -> str:
        return self.isvc or kubernetes_name(self.name)[:55].strip("-")

    @property
    def builds_in_cluster(self) -> bool:
        """Kaniko Jobs: the pipeline job needs the build identity (KFOPS_BUILD_KUBECONFIG)."""
        return self.builder == "kaniko" and self.build_namespace is not None

    @property
    def environments(self) -> dict[str, str]:
        """Deploy environment -> namespace. The names are also the GitHub Environments the deploy
        job enters, which hold the deploy identity's kubeconfig (KFOPS_KUBECONFIG)."""
        return {name: namespace for name, namespace in (("production", self.production_namespace),
                                                        ("staging", self.staging_namespace)) if namespace}

    @property
    def uses_cluster_identity(self) -> bool:
        """Whether the Action needs a kubeconfig at all (deploys or in-cluster builds)."""
        return self.deploys or self.builds_in_cluster


def images_for(dockerfiles: list[str]) -> list[Image]:
    """One image per Dockerfile, named after its folder (the repository's root: `model`)."""
    out: list[Image] = []
    for dockerfile in dockerfiles:
        folder, _, file_name = dockerfile.rpartition("/")
        name = image_name(folder or "model")
        taken = {i.name for i in out}
        name = next(f"{name}-{n}" for n in range(2, 100) if f"{name}-{n}" not in taken) if name in taken else name
        out.append(Image(name, folder or ".", None if file_name == "Dockerfile" else file_name))
    return out


def image_name(folder: str) -> str:
    """A valid images.build name from a folder path: `containers/My Trainer` -> `my-trainer`."""
    name = re.sub(r"[^a-z0-9._-]+", "-", folder.rstrip("/").rsplit("/", 1)[-1].lower()).strip("._-")
    return re.sub(r"[._-]{2,}", "-", name) or "model"


def gather(args: argparse.Namespace, root: Path, env: Mapping[str, str], ask: Ask, *,
           interactive: bool) -> Answers:
    """Answers for `kfc init` in `root` (see the module docstring for the precedence)."""
    placeholders: list[str] = []
    pipeline = _pipeline(args, root, ask, interactive)
    name = args.name or kubernetes_name(root.resolve().name)
    endpoint = args.endpoint or env.get("KF_PIPELINES_ENDPOINT", "").strip()
    if not endpoint:
        endpoint = ask("Kubeflow Pipelines API URL", PLACEHOLDER_ENDPOINT, None).strip() or PLACEHOLDER_ENDPOINT
    if endpoint == PLACEHOLDER_ENDPOINT:
        placeholders.append("kubeflow.endpoint")
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"the Kubeflow endpoint must be an http(s) URL, got {endpoint!r}",
                          fix="e.g. --endpoint https://kubeflow.example.com/pipeline")
    namespace = args.namespace
    if namespace is None:
        namespace = ask("Kubeflow profile namespace (empty for single-user Kubeflow)", "", None).strip()
    namespace = namespace or None
    auth = args.auth or "token"
    dockerfiles = find_dockerfiles(root)
    builder = args.builder
    if builder is None:
        builder = ask(f"Image builder for {len(dockerfiles)} Dockerfile(s)", "kaniko",
                      ["kaniko", "docker", "none"]) if dockerfiles else "none"
    registry = args.registry
    if builder != "none" and not registry:
        registry = ask("Image registry and prefix (images.registry)", PLACEHOLDER_REGISTRY, None).strip() \
            or PLACEHOLDER_REGISTRY
    if registry == PLACEHOLDER_REGISTRY:
        placeholders.append("images.registry")
    build_namespace = None
    if builder == "kaniko":
        build_namespace = args.build_namespace or ask("Namespace for the Kaniko build Jobs",
                                                      DEFAULT_BUILD_NAMESPACE, None).strip() or DEFAULT_BUILD_NAMESPACE
    production = staging = None
    # a deployment section for a pipeline without a model output would only fail at the first /deploy
    model = inspect(root, pipeline) if pipeline is not None and not args.no_deploy else None
    if not args.no_deploy and not (model is not None and model.none):
        production = args.production_namespace or ask("Namespace /deploy releases to", DEFAULT_PRODUCTION,
                                                      None).strip() or DEFAULT_PRODUCTION
        staging = args.staging_namespace or ask("Namespace /staging_deploy releases to", DEFAULT_STAGING,
                                                None).strip() or DEFAULT_STAGING
    for key, value in (("namespace", namespace), ("production namespace", production),
                       ("staging namespace", staging), ("build namespace", build_namespace)):
        if value is not None and kubernetes_name(value, start_with_letter=False) != value:
            raise ConfigError(f"the {key} {value!r} is not a Kubernetes namespace name",
                              fix="lowercase letters, digits and '-', at most 63 characters")
    return Answers(name=name, pipeline=pipeline, endpoint=endpoint.rstrip("/"), namespace=namespace, auth=auth,
                   builder=builder, registry=registry if builder != "none" else None,
                   images=images_for(dockerfiles) if builder != "none" else [], build_namespace=build_namespace,
                   production_namespace=production, staging_namespace=staging, placeholders=placeholders,
                   model=model)


def _pipeline(args: argparse.Namespace, root: Path, ask: Ask, interactive: bool) -> PipelineFunction | None:
    if args.pipeline:
        file, _, function = args.pipeline.partition(":")
        if not (root / file).is_file():
            raise ConfigError(f"--pipeline {args.pipeline}: {file} does not exist in {root}",
                              fix="give the pipeline file relative to the repository root")
        found = [p for p in find_pipelines(root) if p.file == Path(file).as_posix()]
        if not function:
            if len(found) != 1:
                raise ConfigError(f"--pipeline {file}: say which function, e.g. {file}:my_pipeline",
                                  fix="found: " + (", ".join(p.function for p in found) or "no @dsl.pipeline function"))
            return found[0]
        match = [p for p in found if p.function == function]
        return match[0] if match else PipelineFunction(Path(file).as_posix(), function)
    found = find_pipelines(root)
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    if not interactive:  # guessing among several would set up the wrong pipeline silently
        raise ConfigError(f"the repository has {len(found)} pipelines: {', '.join(p.spec for p in found)}",
                          fix="pass --pipeline FILE:FUNCTION")
    choice = ask("Which pipeline does kfops build and run?", found[0].spec, [p.spec for p in found])
    for candidate in found:
        if candidate.spec == choice:
            return candidate
    raise ConfigError(f"{choice!r} is not one of the pipelines found: {', '.join(p.spec for p in found)}",
                      fix="pass --pipeline FILE:FUNCTION")
