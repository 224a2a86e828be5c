"""A compiled pipeline (KFP IR YAML) and what we read from it: inputs, kfp version, spec hash.

Everything downstream (parameter checks, version names, the local runner's limits) works from the
compiled IR, not from the Python function, so that a prebuilt package is checked the same way and
what runs locally is exactly what is uploaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import PipelineError

# IR parameter types, and how each reads in a table and an error message.
TYPE_NAMES = {
    "NUMBER_INTEGER": "int",
    "NUMBER_DOUBLE": "float",
    "STRING": "str",
    "BOOLEAN": "bool",
    "LIST": "list",
    "STRUCT": "dict",
    "TASK_FINAL_STATUS": "PipelineTaskFinalStatus",
}


@dataclass(frozen=True)
class ParameterSpec:
    """One pipeline input as the compiled IR declares it."""

    name: str
    type: str
    default: Any
    optional: bool

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, self.type)

    @property
    def required(self) -> bool:
        return not self.optional and self.default is None


@dataclass(frozen=True)
class PipelinePackage:
    path: Path
    spec: dict[str, Any]
    platform_spec: dict[str, Any] | None
    spec_hash: str

    @property
    def name(self) -> str:
        return str(self.spec.get("pipelineInfo", {}).get("name", ""))

    @property
    def sdk_version(self) -> str | None:
        """The kfp version that compiled this package ('kfp-2.17.3' in the IR)."""
        raw = self.spec.get("sdkVersion")
        return raw.removeprefix("kfp-") if isinstance(raw, str) else None

    @property
    def parameters(self) -> dict[str, ParameterSpec]:
        params = self.spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {}) or {}
        return {name: ParameterSpec(name, p.get("parameterType", "STRING"),
                                    _typed_default(p.get("parameterType"), p.get("defaultValue")),
                                    bool(p.get("isOptional", False)))
                for name, p in params.items()}

    @property
    def artifact_inputs(self) -> list[str]:
        return sorted(self.spec.get("root", {}).get("inputDefinitions", {}).get("artifacts", {}) or {})


def _typed_default(kind: str | None, value: Any) -> Any:
    # The IR stores every number as a protobuf double: an int default of 10 reads back as 10.0.
    if kind == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def spec_hash(spec: dict[str, Any], platform_spec: dict[str, Any] | None) -> str:
    """A short hash of the canonical spec: equal code gives an equal hash, whatever the YAML layout."""
    canonical = json.dumps([spec, platform_spec], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def read_package(path: Path) -> PipelinePackage:
    """Read a compiled pipeline YAML (ours or prebuilt) and check it is KFP v2 IR."""
    try:
        # libyaml when present: an unchanged cached `--local` run reads the package twice, and the
        # pure-Python parser alone would cost a third of that run.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        docs = [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader) if d is not None]
    except OSError as exc:
        raise PipelineError(f"cannot read pipeline package {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"pipeline package {path} is not valid YAML: {exc}") from None
    if not docs or not isinstance(docs[0], dict) or "root" not in docs[0] or "pipelineInfo" not in docs[0]:
        raise PipelineError(f"{path} is not a KFP v2 pipeline package (no pipelineInfo/root)",
                            fix="compile it with kfp 2.x (`kfc build` does)")
    platform = docs[1] if len(docs) > 1 and isinstance(docs[1], dict) else None
    return PipelinePackage(path, docs[0], platform, spec_hash(docs[0], platform))


def land_package(out: Path, write: Callable[[Path], None]) -> PipelinePackage:
    """Write a package next to `out`, check it, then rename it into place.

    Two runs in one project (`kfc build-run --local` twice at once, a build beside a run) share
    `.kfops/build/pipeline.yaml`: written in place, one could read the other's half-written file.
    A rename is atomic, and each run keeps the package it checked, whatever lands there later.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent)  # kfp wants .yaml
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        package = read_package(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)  # gone already when the rename happened
    return replace(package, path=out)


def compile_pipeline(func: Any, out: Path) -> PipelinePackage:
    """Compile with the real kfp compiler; a compiler error is the user's to fix, so say whose."""
    from kfp import compiler

    from ..quiet import quiet_kfp

    def write(path: Path) -> None:
        try:
            with quiet_kfp():
                compiler.Compiler().compile(pipeline_func=func, package_path=str(path))
        except Exception as exc:  # kfp raises many kinds for user mistakes
            raise PipelineError(f"the kfp compiler rejected the pipeline: {type(exc).__name__}: {exc}",
                                fix="fix the pipeline definition; `kfc validate` repeats this check") from None

    return land_package(out, write)


def with_caching(package: PipelinePackage, enabled: bool) -> PipelinePackage:
    """Set every task's caching option in the compiled IR (as `pipeline.caching` asks).

    Caching is part of the spec, not of a run: writing it into the package means the uploaded
    version says how it runs, the spec hash tells the two apart, and a run can still reference
    the stored version (KFP's run API has no caching switch of its own).
    """
    spec = package.spec
    dags = [spec.get("root", {}).get("dag", {})]
    dags += [c["dag"] for c in (spec.get("components") or {}).values() if isinstance(c.get("dag"), dict)]
    wanted = {"enableCache": enabled} if enabled else {}
    tasks = [task for dag in dags for task in (dag.get("tasks") or {}).values()]
    if all(task.get("cachingOptions", {}) == wanted for task in tasks):
        return package  # already so (a package from the local cache): nothing to rewrite
    for task in tasks:
        task["cachingOptions"] = dict(wanted)
    docs = [spec] + ([package.platform_spec] if package.platform_spec else [])
    text = yaml.safe_dump_all(docs, sort_keys=True)
    return land_package(package.path, lambda path: path.write_text(text, encoding="utf-8"))
