"""JSON Schema validation of kfops.yaml that reports every error at once, each at its line.

jsonschema's own messages describe the schema ("Additional properties are not allowed"), not the
user's mistake; here each error becomes `key.path: what is wrong` at `file:line:column`, with a
"did you mean" for misspelt keys.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Callable

from ..errors import Problem
from .yaml_source import Location, Path_

_PATTERN_HINTS = {
    "^(?!(gates|to)$)[a-z][a-z0-9-]{0,30}$": "must be an environment name: lower-case letters, digits and '-', "
                                              "starting with a letter, at most 31 characters, not gates or to",
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "must be a Kubernetes name: lowercase letters, digits and '-', "
                                        "starting and ending with a letter or digit",
    "^[a-z]([-a-z0-9]*[a-z0-9])?$": "must be a Kubernetes service name: lowercase letters, digits and "
                                     "'-', starting with a letter",
    "^[A-Za-z_][A-Za-z0-9_]*$": "must be a Python-style identifier (letters, digits, '_')",
    "^https?://": "must be an http:// or https:// URL",
    "^[^/]+/[^/]+$": "must be written org/team-slug",
    "^[a-z0-9]+([._-][a-z0-9]+)*$": "must be an image name: lowercase letters, digits and . _ -",
    "^(all|none)$": "must be all, none, or a list of check names",
    "^[1-9][0-9]*[mhdw]$": "must be a number and a unit: m (minutes), h (hours), d (days) or w (weeks), e.g. 7d",
}

_TYPE_NAMES = {
    "object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "true or false", "null": "empty",
}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The kfops.yaml JSON Schema shipped in the package (also printed by `kfc schema`)."""
    text = resources.files("kfops_action.config").joinpath("schema.json").read_text("utf-8")
    return json.loads(text)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    kind = {int: "an integer", float: "a number", str: "a string"}.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})"


def _join(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate(data: Any, locate_value: Callable[[Path_], Location | str | None],
             locate_key: Callable[[Path_], Location | str | None]) -> list[Problem]:
    """Every schema violation in `data`, sorted by where it stands."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema())
    problems: list[tuple[tuple[str, int, int], Problem]] = []
    for error in validator.iter_errors(data):
        for path, message, at_key in _explain(error):
            loc = (locate_key if at_key else locate_value)(path)
            problems.append((_sort_key(loc), Problem(f"{_join(path)}: {message}", str(loc) if loc else None)))
    problems.sort(key=lambda item: item[0])
    unique: list[Problem] = []
    for _, problem in problems:
        if problem not in unique:
            unique.append(problem)
    return unique


def _sort_key(loc: Location | str | None) -> tuple[str, int, int]:
    if isinstance(loc, Location):
        return (loc.source, loc.line, loc.column)
    return ("~" + str(loc or ""), 0, 0)


def _explain(error: Any) -> list[tuple[Path_, str, bool]]:
    """Turn one jsonschema error into (key path, message, locate-at-key?) triples."""
    path: Path_ = tuple(error.absolute_path)
    kind = error.validator
    sub = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    if "propertyNames" in error.absolute_schema_path and isinstance(instance, str):
        # the instance is the offending key itself: point at the key, not its mapping
        hint = _PATTERN_HINTS.get(sub.get("pattern", ""), "is not an allowed name")
        return [(path + (instance,), f"the name '{instance}' {hint.replace('must be', 'is not')}", True)]
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(sub.get("properties", {}))
        patterns = list(sub.get("patternProperties", {}))
        import re
        extras = [k for k in instance if k not in allowed and not any(re.search(p, k) for p in patterns)]
        out = []
        for key in extras:
            msg = f"unknown key '{key}'"
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            if close:
                msg += f" (did you mean '{close[0]}'?)"
            if allowed:
                msg += f"; valid keys: {', '.join(allowed)}"
                named = [_PATTERN_HINTS[p].replace("must be ", "") for p in patterns if p in _PATTERN_HINTS]
                if named:
                    msg += f", or {' or '.join(named)}"
            elif patterns:
                msg += f"; keys must match {', '.join(patterns)}"
            out.append((path + (key,), msg, True))
        return out
    if kind == "required":
        missing = error.validator_value
        missing_keys = [k for k in missing if not isinstance(instance, dict) or k not in instance]
        return [(path, f"missing required key '{k}'", False) for k in missing_keys]
    if kind == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return [(path, f"must be {want}, got {_describe(instance)}", False)]
    if kind in ("minimum", "maximum"):
        low, high = sub.get("minimum"), sub.get("maximum")
        if low is not None and high is not None:
            return [(path, f"must be between {low} and {high}, got {instance}", False)]
        bound = low if kind == "minimum" else high
        return [(path, f"must be at {'least' if kind == 'minimum' else 'most'} {bound}, got {instance}", False)]
    if kind == "exclusiveMinimum":
        return [(path, f"must be greater than {error.validator_value}, got {instance}", False)]
    if kind == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        return [(path, f"must be one of: {choices} (got {_describe(instance)})", False)]
    if kind == "const":
        return [(path, f"must be {error.validator_value!r}, got {_describe(instance)}", False)]
    if kind == "pattern":
        hint = _PATTERN_HINTS.get(error.validator_value, f"must match {error.validator_value}")
        return [(path, f"{hint}, got {instance!r}", False)]
    if kind == "minLength":
        if error.validator_value == 1:
            return [(path, "must not be empty", False)]
        return [(path, f"must be at least {error.validator_value} characters long", False)]
    if kind == "maxLength":
        return [(path, f"must be at most {error.validator_value} characters long, got {len(instance)}", False)]
    if kind == "uniqueItems":
        return [(path, "has duplicate items", False)]
    return [(path, error.message, False)]
