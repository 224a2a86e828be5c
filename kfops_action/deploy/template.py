"""Render the InferenceService to deploy from the repository's template.

Three forms, chosen by `deployment.<env>.template`:
- a YAML file with `{{ name }}`, `{{ namespace }}`, `{{ model_uri }}`, `{{ canary_percent }}`
  placeholders (plus any extra values the caller passes, e.g. image digests);
- an inline mapping in kfops.yaml with the same placeholders;
- `file.py` or `file.py:function`: the original Kfops layout, a Python function
  `inference_service_instance(name, storage_uri, namespace, canary_traffic_percent)` that returns
  a manifest dict or a KServe SDK object. SDK objects are converted to the API's camelCase dict by
  walking their `attribute_map`, so `kserve` is never imported by us (`kfops[kserve]` is the user's
  choice, for their own function).

Why the placeholders are not substituted as text: a model URI is data from a pipeline run, and
text substitution would let `s3://b/m"\n  evil: true` add keys to the manifest. Instead each
placeholder becomes an opaque token, the YAML is parsed, and the tokens are replaced inside the
already-parsed string scalars. A value can then never change the document's structure or a
scalar's type (a model named `123` stays the string "123"). Only an *unquoted* scalar that is
exactly one integer placeholder (`canaryTrafficPercent: {{ canary_percent }}`) becomes an integer,
as it would with text substitution. Values are validated as well, so a broken URI is reported as
such instead of surfacing as a KServe storage error minutes later.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ..errors import Problem
from .errors import TemplateError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
DEFAULT_FUNCTION = "inference_service_instance"
API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"

_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# scheme://rest, with nothing that has no business in a storage URI: whitespace, control
# characters, quotes, backslashes, braces (placeholders) and angle brackets.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\x00-\x1f\x7f\"'`\\{}<>]+\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields",
                  "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"


@dataclass(frozen=True)
class TemplateValues:
    """The values a template may use. `extra` adds caller-defined ones (image digests, ...)."""

    name: str
    namespace: str
    model_uri: str
    canary_percent: int
    extra: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str | int]:
        values: dict[str, str | int] = dict(self.extra)
        values.update(name=self.name, namespace=self.namespace, model_uri=self.model_uri,
                      canary_percent=self.canary_percent)
        return values

    def validate(self) -> None:
        """Raise TemplateError listing every value that could not be what it claims to be."""
        problems: list[Problem] = []
        if not isinstance(self.name, str) or len(self.name) > 63 or not _NAME.match(self.name):
            problems.append(Problem(f"{self.name!r} is not a valid InferenceService name (lowercase "
                                    "letters, digits and '-', starting with a letter, at most 63)",
                                    "name"))
        if not isinstance(self.namespace, str) or len(self.namespace) > 63 \
                or not _NAMESPACE.match(self.namespace):
            problems.append(Problem(f"{self.namespace!r} is not a valid namespace name", "namespace"))
        if not isinstance(self.model_uri, str) or len(self.model_uri) > 2048 \
                or not _URI.match(self.model_uri):
            problems.append(Problem(f"{_short(self.model_uri)} is not a storage URI (scheme://path, "
                                    "no spaces, quotes, braces or control characters)", "model_uri"))
        if isinstance(self.canary_percent, bool) or not isinstance(self.canary_percent, int) \
                or not 0 <= self.canary_percent <= 100:
            problems.append(Problem(f"{self.canary_percent!r} is not an integer between 0 and 100",
                                    "canary_percent"))
        for key, value in self.extra.items():
            if not isinstance(key, str) or not _IDENT.match(key):
                problems.append(Problem(f"{key!r} is not a placeholder name", "extra values"))
            elif key in ("name", "namespace", "model_uri", "canary_percent"):
                problems.append(Problem(f"{key!r} would shadow a built-in value", "extra values"))
            elif not isinstance(value, str) or len(value) > 4096 or _CONTROL.search(value):
                problems.append(Problem(f"the value of {key!r} must be one line of text", key))
        if problems:
            raise TemplateError("invalid values for the InferenceService template", problems,
                                "this is a bug in the caller or a corrupt run record: the values "
                                "come from kfops.yaml and the pipeline run being deployed")


def load_manifest(template: str | Mapping[str, Any] | None, base_dir: Path,
                  values: TemplateValues, *, where: str = "deployment.template") -> dict[str, Any]:
    """Render `template` (file, inline mapping or Python function) and check the result.

    `base_dir` is the folder of kfops.yaml; a template path may not leave it (the config is
    reviewed, but a path escaping the checkout is a mistake either way).
    """
    values.validate()
    if template is None:
        raise TemplateError(f"{where} is not set: nothing says what InferenceService to deploy",
                            fix="set deployment.<environment>.template to a YAML file with "
                                "placeholders (see examples/quickstart/inference-service.yaml)")
    if isinstance(template, Mapping):
        manifest = render_object(template, values.as_dict(), source=where)
        return check_manifest(manifest, name=values.name, namespace=values.namespace, source=where)
    file_part, _, function = template.partition(":")
    path = _inside(base_dir, file_part, where)
    if path.suffix == ".py":
        manifest = from_function(path, function or DEFAULT_FUNCTION, values)
    else:
        if function:
            raise TemplateError(f"{where}: ':{function}' only applies to a Python file, got {template!r}")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"cannot read the InferenceService template {path}: {exc}",
                                [Problem("set here", where)],
                                "check deployment.<environment>.template (relative to kfops.yaml)") from None
        manifest = render_text(text, values.as_dict(), source=str(path))
    return check_manifest(manifest, name=values.name, namespace=values.namespace, source=str(path))


def render_text(text: str, values: Mapping[str, str | int], *, source: str) -> Any:
    """Parse YAML `text` with its placeholders filled in safely (see the module docstring)."""
    import yaml

    nonce = secrets.token_hex(6)
    names: list[str] = []

    def to_token(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"kfops{nonce}p{len(names) - 1}e"

    token = re.compile(rf"kfops{nonce}p(\d+)e")
    loader = yaml.SafeLoader(PLACEHOLDER.sub(to_token, text))
    problems: list[Problem] = []
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
            raise TemplateError(f"the InferenceService template is not valid YAML: "
                                f"{getattr(exc, 'problem', None) or exc}", [Problem("here", at)],
                                "placeholders are written {{ name }}; quote the scalar around "
                                "them if YAML needs it") from None
        if root is None:
            raise TemplateError(f"the InferenceService template {source} is empty")
        seen: set[int] = set()
        stack = [root]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.ScalarNode):
                _fill(node, token, names, values, problems, source)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
            elif isinstance(node, yaml.MappingNode):
                for key, item in node.value:
                    stack.extend((key, item))
        if problems:
            raise TemplateError("the InferenceService template uses unknown placeholders", problems,
                                f"use only: {', '.join('{{ ' + k + ' }}' for k in sorted(values))}")
        try:
            return loader.construct_document(root)
        except yaml.YAMLError as exc:
            raise TemplateError(f"the rendered InferenceService template is not valid: {exc}",
                                [Problem("rendering", source)]) from None
    finally:
        loader.dispose()


def _fill(node: Any, token: re.Pattern[str], names: list[str], values: Mapping[str, str | int],
          problems: list[Problem], source: str) -> None:
    """Replace the tokens in one scalar node, in place, without re-reading the inserted text."""
    if not token.search(node.value):
        return
    unknown = [names[int(i)] for i in token.findall(node.value) if names[int(i)] not in values]
    if unknown:
        for name in unknown:
            problems.append(Problem(f"unknown placeholder {{{{ {name} }}}}",
                                    f"{source}:{node.start_mark.line + 1}"))
        return
    whole = token.fullmatch(node.value)
    if whole and node.style is None and node.tag == _STR_TAG:
        value = values[names[int(whole.group(1))]]
        if isinstance(value, int) and not isinstance(value, bool):
            node.tag, node.value = _INT_TAG, str(value)
            return
    node.value = token.sub(lambda m: str(values[names[int(m.group(1))]]), node.value)


def render_object(obj: Any, values: Mapping[str, str | int], *, source: str) -> Any:
    """Fill placeholders in an already-parsed mapping (the inline form in kfops.yaml).

    A string that is exactly one placeholder takes the value's type (YAML forces quoting `{{`),
    otherwise values are inserted as text into that one string: structure cannot change.
    """
    problems: list[Problem] = []

    def walk(item: Any, path: str) -> Any:
        if isinstance(item, Mapping):
            return {walk(k, path): walk(v, f"{path}.{k}") for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(item)]
        if not isinstance(item, str):
            return item
        for name in PLACEHOLDER.findall(item):
            if name not in values:
                problems.append(Problem(f"unknown placeholder {{{{ {name} }}}}", path))
        if problems:
            return item
        whole = PLACEHOLDER.fullmatch(item.strip())
        if whole:
            return values[whole.group(1)]
        return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), item)

    result = walk(obj, source)
    if problems:
        raise TemplateError("the InferenceService template uses unknown placeholders", problems,
                            f"use only: {', '.join('{{ ' + k + ' }}' for k in sorted(values))}")
    return result


def from_function(path: Path, function: str, values: TemplateValues) -> dict[str, Any]:
    """Call the original Kfops deployment function and return its manifest as a plain dict.

    Arguments are passed by name, and only those the function declares (or the classic four when
    it takes **kwargs): name, namespace, storage_uri (alias model_uri), canary_traffic_percent
    (alias canary_percent), plus the extra values.
    """
    module_name = f"kfops_deploy_template_{secrets.token_hex(4)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TemplateError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        try:
            spec.loader.exec_module(module)
        except FileNotFoundError:
            raise TemplateError(f"the deployment function file {path} does not exist",
                                fix="check deployment.<environment>.template") from None
        except Exception as exc:  # the user's module: any error is theirs to see
            raise TemplateError(f"importing {path} failed: {type(exc).__name__}: {exc}",
                                fix="run the file locally with python to see the full traceback") from None
        func = getattr(module, function, None)
        if not callable(func):
            raise TemplateError(f"{path} has no function {function!r}",
                                fix=f"define {function}(name, storage_uri, namespace, "
                                    "canary_traffic_percent) or name the function as file.py:function")
        available: dict[str, Any] = {
            "name": values.name, "namespace": values.namespace, "storage_uri": values.model_uri,
            "model_uri": values.model_uri, "canary_traffic_percent": values.canary_percent,
            "canary_percent": values.canary_percent, **dict(values.extra)}
        params = inspect.signature(func).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            kwargs = {k: available[k] for k in ("name", "storage_uri", "namespace",
                                                 "canary_traffic_percent")}
            kwargs.update({k: v for k, v in available.items() if k in params})
        else:
            kwargs = {k: v for k, v in available.items() if k in params}
            missing = [p.name for p in params.values() if p.default is inspect.Parameter.empty
                       and p.kind not in (inspect.Parameter.VAR_POSITIONAL,) and p.name not in kwargs]
            if missing:
                raise TemplateError(f"{path}:{function} needs arguments kfops does not provide: "
                                    f"{', '.join(missing)}",
                                    fix="accept some of: " + ", ".join(sorted(available)))
        try:
            returned = func(**kwargs)
        except Exception as exc:
            raise TemplateError(f"{path}:{function} raised {type(exc).__name__}: {exc}") from None
    finally:
        sys.modules.pop(module_name, None)
    manifest = to_plain(returned)
    if not isinstance(manifest, dict):
        raise TemplateError(f"{path}:{function} returned {type(returned).__name__}, not an "
                            "InferenceService (a dict or a KServe SDK V1beta1InferenceService)")
    return manifest


def to_plain(obj: Any) -> Any:
    """An OpenAPI-generated model (KServe SDK, kubernetes client) as the JSON the API expects.

    `to_dict()` on those models gives snake_case keys, which the API server silently drops;
    `attribute_map` holds the real (camelCase) names. None fields are left out, as the SDK does.
    """
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [to_plain(item) for item in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    attribute_map = getattr(obj, "attribute_map", None)
    types = getattr(obj, "openapi_types", None)
    if isinstance(attribute_map, Mapping) and isinstance(types, Mapping):
        out = {}
        for attr in types:
            value = getattr(obj, attr, None)
            if value is not None:
                out[attribute_map.get(attr, attr)] = to_plain(value)
        return out
    dump = getattr(obj, "model_dump", None)  # pydantic-style models
    if callable(dump):
        return to_plain(dump(by_alias=True, exclude_none=True))
    raise TemplateError(f"cannot turn a {type(obj).__name__} into an InferenceService manifest",
                        fix="return a dict or a KServe SDK object")


def check_manifest(manifest: Any, *, name: str, namespace: str, source: str) -> dict[str, Any]:
    """Check that the rendered object is the InferenceService the config names, and clean it.

    A template that deploys under another name or namespace than kfops.yaml says would bypass the
    lock and the report, so that is an error, not something to fix silently. Fields the server
    owns (status, resourceVersion, ...) are dropped: they come from copying `kubectl get -o yaml`.
    """
    if not isinstance(manifest, dict):
        raise TemplateError(f"the InferenceService template {source} must produce a mapping, got "
                            f"{type(manifest).__name__}")
    problems: list[Problem] = []
    if manifest.get("apiVersion") != API_VERSION:
        problems.append(Problem(f"apiVersion must be {API_VERSION}, got {manifest.get('apiVersion')!r}",
                                source))
    if manifest.get("kind") != KIND:
        problems.append(Problem(f"kind must be {KIND}, got {manifest.get('kind')!r}", source))
    metadata = manifest.get("metadata")
    if metadata is None:
        metadata = manifest["metadata"] = {}
    if not isinstance(metadata, dict):
        problems.append(Problem("metadata must be a mapping", source))
        metadata = {}
    if metadata.get("name", name) != name:
        problems.append(Problem(f"metadata.name is {metadata.get('name')!r} but kfops.yaml deploys "
                                f"{name!r} (deployment.<environment>.inference_service)", source))
    if metadata.get("namespace", namespace) != namespace:
        problems.append(Problem(f"metadata.namespace is {metadata.get('namespace')!r} but kfops.yaml "
                                f"deploys to {namespace!r}", source))
    if metadata.get("generateName"):
        problems.append(Problem("metadata.generateName is not supported: the name must be stable",
                                source))
    for key in ("annotations", "labels"):
        if metadata.get(key) is not None and not isinstance(metadata.get(key), dict):
            problems.append(Problem(f"metadata.{key} must be a mapping", source))
    spec = manifest.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("predictor"), dict):
        problems.append(Problem("spec.predictor must be a mapping: an InferenceService needs a predictor",
                                source))
    if problems:
        raise TemplateError("the rendered InferenceService is not the one kfops.yaml configures",
                            problems, "fix the template (deployment.<environment>.template)")
    clean = {k: v for k, v in manifest.items() if k != "status"}
    clean["metadata"] = {k: v for k, v in metadata.items() if k not in _SERVER_FIELDS}
    clean["metadata"]["name"], clean["metadata"]["namespace"] = name, namespace
    return clean


def _inside(base_dir: Path, relative: str, where: str) -> Path:
    base = base_dir.resolve()
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise TemplateError(f"{where}: the template {relative!r} is outside the folder of kfops.yaml",
                            fix="keep the InferenceService template inside the repository")
    return path


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
