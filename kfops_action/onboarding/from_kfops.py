"""`kfc init --from-kfops`: convert an original Kfops repository (github.com/bartgras/kfops).

The original layout, as its documentation and `config.py` define it (paths relative to the
repository root, which was also the working directory):

    config_files/config.yaml           repository, pipeline, deployment, image_builder sections
    config_files/kaniko-manifest.yaml  the Pod that builds an image (Kaniko), completed by Kfops
    config_files/deployment.py         inference_service_instance(name, storage_uri, namespace,
                                       canary_traffic_percent) returning a KServe SDK object

What maps, key by key (original -> kfops.yaml):

    pipeline.name / description / namespace      pipeline.name / description / namespace
    pipeline.experiment_name                     pipeline.experiment
    pipeline.pipeline_path                       pipeline.file
    pipeline.pipeline_function_name              pipeline.function (else the one @pipeline in the file)
    pipeline.pipeline_args                       pipeline.parameters (except version_id, see below)
    deployment.inference_service_name            deployment.{production,staging}.inference_service
    deployment.production/staging.namespace      deployment.{production,staging}.namespace
    deployment.inference_service_function_path   deployment.*.template: a YAML template rendered from the
                                                 function when kserve is importable, else the function itself
    deployment.pre_deployment_test_sample_input_path  deployment.*.endpoint_check.sample
    image_builder.container_registry_uri         images.registry (builder: kaniko)
    image_builder.images[].name / dockerfile_folder_path   images.build[].name / context
    kaniko-manifest.yaml: executor image, serviceAccountName, resources, the secret mounted at
                          /kaniko/.docker       images.kaniko.image / service_account / resources /
                                                 registry_secret

Everything else is reported as not converted, with what to do instead: nothing is dropped
silently. The original files are left in place.
"""

from __future__ import annotations

import argparse
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..images.kaniko_job import DOCKERCONFIGJSON
from . import scaffold
from .answers import PLACEHOLDER_ENDPOINT, Answers, Ask, Image, image_name
from .detect import PipelineFunction, find_pipelines, kubernetes_name
from .model_output import inspect

CONFIG = "config_files/config.yaml"
KANIKO = "config_files/kaniko-manifest.yaml"
ORIGINAL_BUILD_NAMESPACE = "kfops"  # the namespace of the original's Argo workflows (its default)
KANIKO_DOCKER_CONFIG = "/kaniko/.docker"


@dataclass
class Conversion:
    answers: Answers
    files: list[scaffold.File]
    notes: list[str]


def convert(root: Path, args: argparse.Namespace, env: Mapping[str, str], ask: Ask, *,
            interactive: bool) -> Conversion:
    import yaml

    path = root / CONFIG
    if not path.is_file():
        raise ConfigError(f"no original Kfops layout here: {CONFIG} does not exist in {root}",
                          fix="run kfc init --from-kfops from the repository root, or kfc init without it")
    try:
        original = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{CONFIG} is not valid YAML: {exc}", fix="fix the file first") from None
    if not isinstance(original, dict):
        raise ConfigError(f"{CONFIG} is not a mapping", fix="fix the file first")
    notes: list[str] = []
    pipeline = _mapping(original.get("pipeline"))
    deployment = _mapping(original.get("deployment"))
    builder = _mapping(original.get("image_builder"))
    if original.get("repository"):
        notes.append("repository.owner/name: not needed, the Action knows its repository (GITHUB_REPOSITORY)")

    function = _pipeline_function(root, pipeline, getattr(args, "pipeline", None))
    parameters = dict(_mapping(pipeline.get("pipeline_args")))
    if "version_id" in parameters or "version_id" in _pipeline_source(root, function):
        parameters.pop("version_id", None)
        notes.append("the version_id parameter and kfops.tagger.versioned_image(): kfops tags images with the "
                     "commit (<registry>/<name>:<short sha>) and pins their digests; remove the parameter and "
                     "point components at the image you build")
    if pipeline.get("pipeline_execution_mode"):
        notes.append(f"pipeline.pipeline_execution_mode ({pipeline['pipeline_execution_mode']}): kfops compiles "
                     "with the kfp 2 SDK, which has one (v2) mode")
    if "materialize_model" in _pipeline_source(root, function):
        notes.append("kfops.model.materialize_model: not needed, /deploy serves the `model` output artifact of "
                     "the run; remove the step and its import (the old kfops package)")
    if function is not None and function.kfp_v1:
        notes.append(f"{function.file} uses the kfp 1.x SDK (kfp.v2 imports, ContainerOp or "
                     "create_component_from_func): port it to kfp 2 (`kfc doctor` compiles it)")

    name = str(pipeline.get("name") or kubernetes_name(root.name))
    endpoint = args.endpoint or env.get("KF_PIPELINES_ENDPOINT", "").strip() or \
        ask("Kubeflow Pipelines API URL (the original ran inside the cluster; kfops calls it from the Action)",
            PLACEHOLDER_ENDPOINT, None).strip() or PLACEHOLDER_ENDPOINT
    placeholders = ["kubeflow.endpoint"] if endpoint == PLACEHOLDER_ENDPOINT else []

    images, kaniko, build_namespace, registry = _images(root, builder, args, notes)
    files_extra: list[scaffold.File] = []
    production = _mapping(deployment.get("production")).get("namespace")
    staging = _mapping(deployment.get("staging")).get("namespace")
    template_path: str | None = None
    sample: str | None = None
    isvc_name = deployment.get("inference_service_name")
    if deployment:
        if not production:
            notes.append("deployment.production.namespace is missing: no deployment section written")
        template_path, template_file = _template(root, deployment, notes)
        if template_file is not None:
            files_extra.append(template_file)
        sample = deployment.get("pre_deployment_test_sample_input_path")
        if sample and not (root / sample).is_file():
            notes.append(f"deployment.pre_deployment_test_sample_input_path: {sample} does not exist")
        model = inspect(root, function) if function is not None else None
        if model is not None and model.none:  # kept, since the original deployed: but say it cannot work yet
            notes.append(f"{model.describe_missing(function.spec)}. The deployment section is converted, but /deploy "
                         "will find no model until a step outputs one (`model: Output[Model]`, which replaces the "
                         "original's materialize_model); `kfc doctor` checks it (model line)")
        elif model is not None and not model.known:
            notes.append(f"{function.spec} does not compile here ({model.error}), so whether it outputs the model "
                         "/deploy deploys is not checked: once it compiles, `kfc doctor` checks it (model line)")
        notes.append("canary: the original checked the new model at 0% traffic, then switched all of it; kfops "
                     "gives it canary_percent (10 in production) while the endpoint check runs, then promotes it "
                     "(set canary_percent: 100 to switch at once)")
    answers = Answers(
        name=name, pipeline=function, endpoint=endpoint.rstrip("/"), namespace=pipeline.get("namespace") or None,
        auth="token", builder="kaniko" if images else "none", registry=registry if images else None, images=images,
        build_namespace=build_namespace if images else None,
        production_namespace=production if deployment and production else None,
        staging_namespace=staging if deployment and production and staging else None, placeholders=placeholders,
        description=pipeline.get("description"), experiment=pipeline.get("experiment_name"), parameters=parameters,
        template=template_path, sample=sample or None, isvc=kubernetes_name(str(isvc_name)) if isvc_name else None,
        staging_inference_service=kubernetes_name(str(isvc_name)) if isvc_name else None, kaniko=kaniko)
    files = scaffold.files(answers) + files_extra
    notes.append("the original's in-cluster webhook: remove this repository from repositoriesNames in the Kfops "
                 "Helm values and `helm upgrade`, or both will answer the same comments")
    notes.append(f"{CONFIG}, {KANIKO} and the deployment function are left in place: delete them once "
                 "`kfc doctor` is green")
    return Conversion(answers, files, notes)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _pipeline_function(root: Path, pipeline: dict[str, Any],
                       override: str | None = None) -> PipelineFunction | None:
    if override:  # --pipeline FILE:FUNCTION wins over the original config
        file, _, function = override.partition(":")
        pipeline = {**pipeline, "pipeline_path": file, "pipeline_function_name": function or None}
    file = pipeline.get("pipeline_path")
    if not file:
        raise ConfigError(f"{CONFIG}: pipeline.pipeline_path is missing", fix="it names the pipeline's Python file")
    if not (root / file).is_file():
        raise ConfigError(f"{CONFIG}: pipeline.pipeline_path {file} does not exist",
                          fix="fix the path (relative to the repository root)")
    found = [p for p in find_pipelines(root) if p.file == Path(file).as_posix()]
    wanted = pipeline.get("pipeline_function_name")
    if wanted:
        match = [p for p in found if p.function == wanted]
        return match[0] if match else PipelineFunction(Path(file).as_posix(), str(wanted))
    if len(found) == 1:
        return found[0]
    raise ConfigError(f"{file} has {len(found) or 'no'} @pipeline functions"
                      + (f": {', '.join(p.function for p in found)}" if found else ""),
                      fix="set pipeline.pipeline_function_name in the original config, or pass --pipeline FILE:FUNCTION")


def _pipeline_source(root: Path, function: PipelineFunction | None) -> str:
    if function is None:
        return ""
    try:
        return (root / function.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _images(root: Path, builder: dict[str, Any], args: argparse.Namespace,
            notes: list[str]) -> tuple[list[Image], dict[str, Any], str, str | None]:
    images: list[Image] = []
    for entry in builder.get("images") or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        folder = str(entry.get("dockerfile_folder_path") or ".").rstrip("/") or "."
        images.append(Image(image_name(str(entry["name"])), folder))
        if entry.get("other_folders_path"):
            notes.append(f"image {entry['name']}: other_folders_path {entry['other_folders_path']} were copied "
                         f"into its build context; kfops builds from one folder ({folder}): make the context a "
                         "common parent and update the Dockerfile's COPY lines (images.build[].context and "
                         "dockerfile)")
    if builder.get("insecure"):
        notes.append("image_builder.insecure: kfops' Kaniko Jobs push over TLS only; use a registry with a "
                     "certificate")
    if builder.get("minio"):
        notes.append("image_builder.minio: not needed, Kaniko Jobs clone the repository at the pinned commit")
    kaniko: dict[str, Any] = {}
    namespace = args.build_namespace or ORIGINAL_BUILD_NAMESPACE
    if images:
        kaniko = _kaniko_manifest(root, notes, namespace)
    if images and not args.build_namespace:
        notes.append(f"images.kaniko.namespace is {ORIGINAL_BUILD_NAMESPACE!r}, where the original ran its "
                     "workflows by default: change it if yours ran elsewhere")
    return images, kaniko, namespace, builder.get("container_registry_uri")


def _kaniko_manifest(root: Path, notes: list[str], namespace: str) -> dict[str, Any]:
    """images.kaniko from the original's build Pod; every volume is either converted or reported."""
    import yaml

    path = root / KANIKO
    if not path.is_file():
        notes.append(f"{KANIKO} not found: the Kaniko defaults apply")
        return {}
    try:
        pod = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        notes.append(f"{KANIKO} is not valid YAML ({exc}): not converted")
        return {}
    spec = _mapping(_mapping(pod).get("spec"))
    out: dict[str, Any] = {}
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    executor = next((c for c in containers if "kaniko-project/executor" in str(c.get("image", ""))), None)
    if executor is not None:
        image = str(executor["image"])
        if not image.endswith(":latest"):
            out["image"] = image
        else:
            notes.append(f"{KANIKO}: executor image {image} not kept: kfops pins a tested Kaniko version "
                         "(images.kaniko.image to choose another)")
        if executor.get("resources"):
            out["resources"] = {k: v for k, v in executor["resources"].items() if k in ("requests", "limits")}
        mounts = {m.get("name"): m for m in executor.get("volumeMounts") or [] if isinstance(m, dict)}
        for volume in spec.get("volumes") or []:
            _volume(_mapping(volume), mounts, namespace, out, notes)
        extra = sorted(set(executor) - {"name", "image", "args", "resources", "volumeMounts"})
        if extra:
            notes.append(f"{KANIKO}: the executor's {', '.join(extra)}: no kfops setting, not converted")
    if spec.get("serviceAccountName"):
        out["service_account"] = spec["serviceAccountName"]
    extra = sorted(set(spec) - {"containers", "volumes", "serviceAccountName", "restartPolicy", "initContainers"})
    if extra:
        notes.append(f"{KANIKO}: spec.{', spec.'.join(extra)}: no kfops setting, not converted")
    others = [c.get("name") for c in containers if c is not executor]
    if others:
        notes.append(f"{KANIKO}: extra containers {others} are not run by kfops' Kaniko Jobs")
    return out


def _volume(volume: dict[str, Any], mounts: dict[Any, dict[str, Any]], namespace: str, out: dict[str, Any],
            notes: list[str]) -> None:
    """Convert one volume of the original's build Pod into images.kaniko, or say why not.

    kfops' Kaniko Jobs mount exactly one thing, the registry Secret, at /kaniko/.docker; anything
    else the original mounted (a cache PVC, a docker config from a ConfigMap) must not vanish
    from the build without a word.
    """
    name, mount = volume.get("name"), mounts.get(volume.get("name")) or {}
    path = str(mount.get("mountPath") or "")
    where = f"mounted at {path}" if path else "not mounted in the executor"
    secret, config_map = _mapping(volume.get("secret")), _mapping(volume.get("configMap"))
    docker_config = path.startswith(KANIKO_DOCKER_CONFIG)
    if secret.get("secretName") and docker_config:
        out["registry_secret"] = secret_name = secret["secretName"]
        key = _docker_config_key(secret, mount)
        if key != DOCKERCONFIGJSON:
            out["registry_secret_key"] = key
            notes.append(
                f"{KANIKO}: the registry Secret {secret_name} holds the docker config under the key {key} (an Opaque "
                f"Secret, {where}): kfops.yaml says images.kaniko.registry_secret_key: {key}, so the build pods mount "
                f"that key as /kaniko/.docker/config.json. To use a standard kubernetes.io/dockerconfigjson Secret "
                f"instead: {_to_dockerconfigjson(namespace, secret_name, key)}, then set "
                "registry_secret: kfops-registry and remove registry_secret_key")
    elif config_map.get("name") and docker_config:
        map_name = config_map["name"]
        key = _docker_config_key(config_map, mount)
        out["registry_secret"], out["registry_secret_key"] = map_name, "config.json"
        notes.append(
            f"{KANIKO}: the docker config comes from the ConfigMap {map_name} ({where}); kfops mounts registry "
            f"credentials from a Secret only, so images.kaniko.registry_secret names a Secret {map_name} with the key "
            f"config.json: create it from the ConfigMap with kubectl -n {namespace} get configmap {map_name} -o "
            f"jsonpath='{{.data.{_jsonpath_key(key)}}}' > config.json && kubectl -n {namespace} create secret generic "
            f"{map_name} --from-file=config.json=config.json")
    elif _mapping(volume.get("persistentVolumeClaim")).get("claimName"):
        claim = volume["persistentVolumeClaim"]["claimName"]
        notes.append(f"{KANIKO}: the cache volume {name} (PersistentVolumeClaim {claim}, {where}) is not converted: "
                     "kfops' Kaniko Jobs mount no volume but the registry Secret. Its equivalent is the layer cache "
                     "in the registry: set images.kaniko.cache: true (--cache=true; Kaniko pushes cached layers to "
                     "<registry>/<image>/cache, so the push credentials need that repository too)")
    else:
        kind = next((k for k in volume if k != "name"), "no source")
        notes.append(f"{KANIKO}: volume {name} ({kind}, {where}) is not converted: kfops' Kaniko Jobs mount only the "
                     "registry Secret")


def _docker_config_key(source: dict[str, Any], mount: dict[str, Any]) -> str:
    """The key of a Secret/ConfigMap that ends up as /kaniko/.docker/config.json in the original Pod."""
    if mount.get("subPath"):
        return str(mount["subPath"])
    for item in source.get("items") or []:
        if isinstance(item, dict) and str(item.get("path", "")).rsplit("/", 1)[-1] == "config.json":
            return str(item.get("key"))
    return "config.json"  # mounted whole: the key named config.json is the file Kaniko reads


def _jsonpath_key(key: str) -> str:
    return key.replace(".", "\\.")


def _to_dockerconfigjson(namespace: str, name: str, key: str) -> str:
    """The exact commands that copy the docker config of Secret `name` into a kubernetes.io/dockerconfigjson one."""
    return (f"kubectl -n {namespace} get secret {name} -o jsonpath='{{.data.{_jsonpath_key(key)}}}' | base64 -d > "
            f"config.json && kubectl -n {namespace} create secret generic kfops-registry "
            "--type=kubernetes.io/dockerconfigjson --from-file=.dockerconfigjson=config.json")


# -- the deployment function --------------------------------------------------------------------------------


def _template(root: Path, deployment: dict[str, Any], notes: list[str]) -> tuple[str | None, scaffold.File | None]:
    """(deployment.*.template, the YAML template file to write or None).

    The function is called once with stand-in values and its result turned into a YAML template,
    so that /deploy needs no `kserve` where the Action runs. When that is not possible (kserve not
    installed here, the function fails), the function itself is the template, which kfops also
    supports (`file.py`, function inference_service_instance).
    """
    path = deployment.get("inference_service_function_path")
    if not path:
        notes.append("deployment.inference_service_function_path is missing: edit deploy/inference-service.yaml")
        return None, None
    source = root / path
    if not source.is_file():
        notes.append(f"the deployment function file {path} does not exist: edit deploy/inference-service.yaml")
        return None, None
    try:
        text = render_function_as_template(source)
    except Exception as exc:  # noqa: BLE001 - the user's code: any failure means "keep the function"
        if _kserve_missing(exc):
            notes.append(f"{path} imports kserve, which is not installed here, so it could not be turned into a YAML "
                         "template; it is used as it is (kfops calls inference_service_instance), which needs "
                         "`kserve` installed where the Action runs (runtime: python and kfops[kserve]); or install "
                         "kserve here and rerun `kfc init --from-kfops --force`")
        else:
            notes.append(f"the deployment function in {path} fails: {one_line(exc)}. It is kept as "
                         "deployment.*.template, but /deploy would fail the same way: fix it and rerun "
                         f"`kfc init --from-kfops --force` (which turns it into a YAML template), or write "
                         f"{scaffold.TEMPLATE_FILE} yourself; `kfc doctor` checks it (template line)")
        return path, None
    header = (f"# KServe InferenceService template converted by `kfc init --from-kfops` from {path}\n"
              "# (its inference_service_instance(), called once with the placeholders below).\n"
              "# Placeholders: {{ name }}, {{ namespace }}, {{ model_uri }}, {{ canary_percent }}.\n")
    return scaffold.TEMPLATE_FILE, scaffold.File(scaffold.TEMPLATE_FILE, header + text,
                                                 f"the InferenceService, converted from {path}")


def render_function_as_template(path: Path, function: str = "inference_service_instance") -> str:
    """Call the deployment function with stand-ins and write its manifest with placeholders."""
    import yaml

    from ..deploy.template import TemplateValues, from_function

    stand = {"name": f"kfops-name-{secrets.token_hex(4)}", "namespace": f"kfops-namespace-{secrets.token_hex(4)}",
             "model_uri": f"s3://kfops-model-uri-{secrets.token_hex(4)}"}
    canary = 987_654_321
    # the same call /deploy makes, with stand-ins to turn back into placeholders below
    manifest = from_function(path, function, TemplateValues(name=stand["name"], namespace=stand["namespace"],
                                                            model_uri=stand["model_uri"], canary_percent=canary))
    if not isinstance(manifest, dict) or manifest.get("kind") != "InferenceService":
        raise ValueError("it did not return an InferenceService")
    marker = f"kfops-canary-{secrets.token_hex(4)}"

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        if value == canary and not isinstance(value, bool):
            return marker
        if isinstance(value, str):
            for key, stand_in in stand.items():
                value = value.replace(stand_in, "{{ " + key + " }}")
        return value

    text = yaml.safe_dump(swap(manifest), sort_keys=False, default_flow_style=False)
    return text.replace(marker, "{{ canary_percent }}")



def _kserve_missing(exc: BaseException) -> bool:
    """The function failed only because kserve is not installed here (not because it is broken)."""
    import importlib.util

    return bool(re.search(r"No module named '?kserve\b", str(exc))) and importlib.util.find_spec("kserve") is None


def one_line(exc: BaseException) -> str:
    """An error as one line, so that it stays one item of the notes list: a KfopsError's own text
    puts its "How to fix:" on a line of its own, which would end the item in the middle."""
    from ..errors import KfopsError

    if isinstance(exc, KfopsError):
        text = exc.what + "".join(f"; {p}" for p in exc.problems) + (f" (how to fix: {exc.fix})" if exc.fix else "")
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())
