"""Load kfops.yaml, apply overrides, validate: the one way every command gets its configuration."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import overrides as ov
from .validation import validate
from .yaml_source import Path_, load_yaml

DEFAULT_CONFIG = "kfops.yaml"


@dataclass(frozen=True)
class PipelineSettings:
    """The `pipeline` section with defaults filled in and paths resolved against kfops.yaml."""

    file: Path
    function: str
    name: str
    experiment: str
    description: str
    namespace: str | None
    parameters: dict[str, Any]
    root: str | None
    service_account: str | None
    caching: bool | None
    package: Path
    local_outputs: Path


@dataclass(frozen=True)
class Config:
    """A validated kfops.yaml (with overrides applied) and where it came from."""

    path: Path
    data: dict[str, Any]
    overridden: frozenset[str] = field(default_factory=frozenset)
    locations: dict[str, str] = field(default_factory=dict)

    def where(self, dotted: str) -> str | None:
        """Where a key was set (file:line:col, or the `--set` that set it), for error messages."""
        return self.locations.get(dotted)

    def is_overridden(self, dotted: str) -> bool:
        return any(dotted == o or dotted.startswith(o + ".") or o.startswith(dotted + ".")
                   for o in self.overridden)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def pipeline(self) -> PipelineSettings:
        p = self.section("pipeline")
        name = p.get("name") or self.base_dir.resolve().name
        return PipelineSettings(
            file=self.base_dir / p["file"],
            function=p["function"],
            name=name,
            experiment=p.get("experiment") or name,
            description=p.get("description", ""),
            namespace=p.get("namespace"),
            parameters=dict(p.get("parameters") or {}),
            root=p.get("root"),
            service_account=p.get("service_account"),
            caching=p.get("caching"),
            package=self.base_dir / p.get("package", ".kfops/build/pipeline.yaml"),
            local_outputs=self.base_dir / p.get("local_outputs", ".kfops/local"),
        )


def find_config(explicit: str | os.PathLike[str] | None) -> Path:
    """`-c PATH`, else kfops.yaml in the current folder."""
    path = Path(explicit) if explicit else Path(DEFAULT_CONFIG)
    if not path.is_file():
        if explicit:
            raise ConfigError(f"config file {path} not found", fix="check the path given to -c/--config")
        raise ConfigError(f"no {DEFAULT_CONFIG} in {Path.cwd()}",
                          fix="run kfc from the repository root, or pass -c path/to/kfops.yaml")
    return path


def load_config(path: Path, sets: list[str] | None = None,
                override_files: list[Path] | None = None) -> Config:
    """Read, override (file < --config-override < --set), then validate, reporting all errors."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source} is not UTF-8 text", fix="save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror or exc}",
                          fix="check the file exists and is readable") from None
    data, positions = load_yaml(text, source)
    if data is None:
        raise ConfigError(f"{source} is empty", fix="start from examples/quickstart/kfops.yaml or `kfc schema`")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping (key: value), got {type(data).__name__}",
                          fix="start from examples/quickstart/kfops.yaml")

    overridden: set[str] = set()
    for override_path in override_files or []:
        extra, extra_positions = ov.load_override_file(Path(override_path))
        data = ov.deep_merge(data, extra)
        positions.update(extra_positions)
        overridden |= _leaf_keys(extra)
    parsed_sets = [ov.parse_set(s) for s in sets or []]
    for s in parsed_sets:
        data = ov.apply_set(data, s)
        overridden.add(".".join(s.path))
    origins = ov.set_origins(parsed_sets)

    problems = validate(
        data,
        locate_value=lambda p: ov.locate(p, origins, positions),
        locate_key=lambda p: ov.locate(p, origins, positions, at_key=True),
    )
    if problems:
        noun = "error" if len(problems) == 1 else "errors"
        raise ConfigError(f"{source}: {len(problems)} configuration {noun}", problems,
                          fix="correct each line listed above; `kfc schema` prints every allowed key")
    locations = {".".join(str(p) for p in key): str(loc) for key, loc in positions.keys.items()}
    locations.update({".".join(key): origin for key, origin in origins.items()})
    return Config(path=path, data=data, overridden=frozenset(overridden), locations=locations)


def _leaf_keys(data: Any, prefix: Path_ = ()) -> set[str]:
    if isinstance(data, dict) and data:
        out: set[str] = set()
        for k, v in data.items():
            out |= _leaf_keys(v, prefix + (k,))
        return out
    return {".".join(str(p) for p in prefix)}
