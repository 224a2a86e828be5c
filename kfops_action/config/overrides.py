"""`--set a.b=v` and `--config-override FILE`: change the pipeline section for one run.

Only `pipeline` may be overridden. Deployment targets, who may run what and where Kubeflow is are
reviewed settings: changing them must go through a commit, not a command-line flag or a PR comment.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, Problem, shown
from .yaml_source import AliasRefused, Location, Path_, Positions, load_yaml, parse_scalar

OVERRIDABLE = "pipeline"
# A parameter, a path, a short list: anything longer belongs in kfops.yaml, in a reviewed commit. The
# cap also bounds the YAML parser's work on text from a PR comment.
MAX_SET_VALUE_BYTES = 4096
_FIX = ("only pipeline.* can be overridden; change other sections in kfops.yaml, in a commit, "
        "so that they are reviewed")


@dataclass(frozen=True)
class SetOverride:
    """One parsed `--set key.path=value`, remembering its text for error messages."""

    path: tuple[str, ...]
    value: Any
    text: str


def parse_set(text: str) -> SetOverride:
    """Split on the first `=` (values may contain `=`); keys are dotted and non-empty."""
    where = f"--set {shown(text)}"
    if "=" not in text:
        raise ConfigError(f"{where}: expected KEY=VALUE",
                          fix="write it as --set pipeline.parameters.learning_rate=0.01")
    key, _, raw = text.partition("=")
    parts = tuple(key.strip().split("."))
    if not key.strip() or any(not p for p in parts):
        raise ConfigError(f"{where}: the key '{shown(key)}' is not a dotted path",
                          fix="write it as --set pipeline.parameters.learning_rate=0.01")
    if parts[0] != OVERRIDABLE or len(parts) < 2:
        raise ConfigError(f"{where}: '{shown(key)}' is outside the pipeline section", fix=_FIX)
    try:
        value = parse_value(raw)
    except ConfigError as exc:
        raise ConfigError(f"--set {shown(key)}: {exc.what}", exc.problems, fix=exc.fix) from None
    return SetOverride(parts, value, text)


def parse_value(raw: str) -> Any:
    """A `--set` value as YAML reads it, at most MAX_SET_VALUE_BYTES and without anchors or
    aliases. Errors describe the value without repeating it (the caller names the key): the
    comment parser shows them in the PR too (chatops.command.check_values)."""
    size = len(raw.encode("utf-8"))
    if size > MAX_SET_VALUE_BYTES:
        raise ConfigError(f"the value is {size} bytes long, more than the {MAX_SET_VALUE_BYTES} bytes a --set "
                          "value may have",
                          fix="put a long setting in kfops.yaml, in a commit (with kfc: in a --config-override "
                              "file)")
    try:
        return parse_scalar(raw)
    except AliasRefused:
        raise
    except ConfigError as exc:
        raise ConfigError(exc.what, exc.problems,
                          fix="quote the value, e.g. --set 'pipeline.parameters.tag=\"a: b\"'") from None


def load_override_file(path: Path) -> tuple[dict[str, Any], Positions]:
    """Read a `--config-override` file: a mapping whose only top-level key is `pipeline`."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the override file {source}: {exc.strerror or exc}",
                          fix="check the path given to --config-override") from None
    data, positions = load_yaml(text, source)
    if data is None:
        return {}, positions
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: an override file must be a mapping with a 'pipeline' key",
                          [Problem("the top level is not a mapping", str(positions.of_value(())))])
    outside = [k for k in data if k != OVERRIDABLE]
    if outside:
        raise ConfigError(
            f"{source}: overrides may only change the pipeline section",
            [Problem(f"'{k}' is outside the pipeline section", str(positions.of_key((k,)))) for k in outside],
            fix=_FIX,
        )
    return data, positions


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) is replaced whole."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def apply_set(data: dict[str, Any], override: SetOverride) -> dict[str, Any]:
    """Set one dotted key, creating mappings on the way; refuse to descend into a non-mapping."""
    result = copy.deepcopy(data)
    node = result
    for i, part in enumerate(override.path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            prefix = ".".join(override.path[: i + 1])
            raise ConfigError(f"--set {shown(override.text)}: '{prefix}' is not a mapping, it holds {child!r}",
                              fix=f"set '{prefix}' itself, or check the key path")
        node = child
    node[override.path[-1]] = override.value
    return result


def set_origins(overrides: list[SetOverride]) -> dict[Path_, str]:
    """Where each overridden key came from, for errors in values that are not in any file."""
    return {o.path: f"--set {shown(o.text)}" for o in overrides}


def locate(path: Path_, origins: dict[Path_, str], positions: Positions,
           at_key: bool = False) -> Location | str | None:
    """The `--set` that wrote a key (or one of its parents) wins over the file position."""
    for cut in range(len(path), 0, -1):
        origin = origins.get(tuple(path[:cut]))
        if origin:
            return origin
    return positions.of_key(path) if at_key else positions.of_value(path)
