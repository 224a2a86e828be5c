"""kfops.yaml as it is on the base branch: the only source of who may run what.

A pull request must not be able to grant itself rights, nor point the Action's credentials
somewhere else, so the Action reads kfops.yaml from the branch the PR targets, through the GitHub
API, not from the checked-out PR. The file is validated like any kfops.yaml (every error with its
line); with no kfops.yaml on the base branch the defaults apply.

yaml and jsonschema are imported when a file is actually read, after the acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .authorize import Policy


@dataclass(frozen=True)
class BaseConfig:
    """The validated base-branch kfops.yaml (`data` None when the branch has none)."""

    ref: str    # the branch; "" for a local file (kfc comment)
    path: str
    data: dict[str, Any] | None

    @property
    def source(self) -> str:
        if not self.ref:  # a local file (kfc comment)
            return self.path
        if self.data is None:
            return f"the defaults (no {self.path} on `{self.ref}`)"
        return f"{self.path} on `{self.ref}`"

    @property
    def policy(self) -> Policy:
        return Policy.from_config(self.data, self.source)


def parse_base_config(text: str | None, *, ref: str, path: str = "kfops.yaml") -> BaseConfig:
    """Validate kfops.yaml text from a branch; ConfigError lists every problem with its line."""
    if text is None:
        return BaseConfig(ref, path, None)
    from ..config.validation import validate
    from ..config.yaml_source import load_yaml

    source = f"{path}@{ref}" if ref else path
    data, positions = load_yaml(text, source)
    if data is None:
        return BaseConfig(ref, path, None)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping (key: value)")
    problems = validate(data, locate_value=positions.of_value, locate_key=positions.of_key)
    if problems:
        noun = "error" if len(problems) == 1 else "errors"
        raise ConfigError(f"{source}: {len(problems)} configuration {noun}", problems,
                          fix="correct each line listed above; `kfc schema` prints every allowed key")
    return BaseConfig(ref, path, data)


def read_local_config(path: Path) -> BaseConfig:
    """A kfops.yaml on disk, read exactly as the Action reads the base branch's (for `kfc comment`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
                          fix="check the path given to -c/--config") from None
    return parse_base_config(text, ref="", path=str(path))
