"""YAML parsing that remembers where every key and value came from.

Validation errors are only useful when they point at a line; PyYAML's plain `safe_load` forgets
positions, and silently keeps the last of two duplicate keys (a classic way to lose a setting), so
we compose the node tree ourselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import ConfigError, Problem

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Location:
    """A 1-based line and column in a named source."""

    source: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}"


@dataclass
class Positions:
    """Where each value (and each mapping key) of a document stands in its source."""

    values: dict[Path_, Location]
    keys: dict[Path_, Location]

    def of_value(self, path: Path_) -> Location | None:
        """The nearest located ancestor: a missing key is reported at its parent mapping."""
        for cut in range(len(path), -1, -1):
            loc = self.values.get(tuple(path[:cut]))
            if loc is not None:
                return loc
        return None

    def of_key(self, path: Path_) -> Location | None:
        return self.keys.get(tuple(path)) or self.of_value(path)

    def update(self, other: Positions) -> None:
        self.values.update(other.values)
        self.keys.update(other.keys)


def _location(source: str, node: yaml.Node) -> Location:
    return Location(source, node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str, source: str, *, aliases: bool = True) -> tuple[Any, Positions]:
    """Parse one YAML document; raise ConfigError listing every duplicate key or the syntax error.

    `aliases=False` refuses YAML anchors and aliases (`&a`, `*a`) outright: for text from a PR
    comment, where a few hundred characters of nested aliases expand to billions of values and a
    self-referencing anchor never ends."""
    try:
        if not aliases:
            _refuse_aliases(text, source)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(
            f"{source} is not valid YAML",
            [Problem(f"{exc.problem or exc}" + (f" ({exc.context})" if exc.context else ""), where)],
            fix="correct the YAML syntax at that line (indentation, a missing ':' or quote)",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML", [Problem(str(exc), source)]) from None
    except RecursionError:
        raise ConfigError(f"{source} nests lists or mappings too deeply to be read",
                          fix="flatten the structure: a configuration needs a few levels, not hundreds") from None
    positions = Positions({}, {})
    if node is None:
        return None, positions
    duplicates: list[Problem] = []
    data = _build(node, (), source, positions, duplicates, _Expansion(source))
    if duplicates:
        raise ConfigError(
            f"{source} has duplicate keys", duplicates,
            fix="keep one of each key: YAML would silently use the last one",
        )
    return data, positions


class AliasRefused(ConfigError):
    """YAML anchors or aliases where `load_yaml(aliases=False)` does not accept them."""


def _refuse_aliases(text: str, source: str) -> None:
    """Read the events only (linear: aliases are not expanded) and stop at the first anchor or alias."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise AliasRefused(
                f"{source} uses a YAML anchor or alias",
                [Problem(f"'&' and '*' at the start of a value make YAML anchors and aliases, which are "
                         f"not accepted here", str(_location(source, event)))],
                fix="write the value out in full; to mean a literal & or *, quote the value, e.g. '\"*x\"'")


# How many values YAML aliases may add to a document, all aliases together. An anchor used a few
# times (shared image settings) adds tens; an alias bomb (anchors whose lists repeat the previous
# anchor) adds billions from a few hundred bytes, and walking them would hang the job.
MAX_ALIAS_VALUES = 10_000


class _Expansion:
    """Bounds what aliases expand to while the node graph is walked into Python values.

    yaml.compose shares one node for an anchor and its aliases, so the graph is small however
    large its expansion: counting the nodes met again, and the nodes on the current path, stops
    a bomb after MAX_ALIAS_VALUES steps and a self-reference (`&a [*a]`) at once, with the
    anchor's line, for kfops.yaml from a pull request as for any other file."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.seen: set[int] = set()
        self.path: set[int] = set()
        self.repeated = 0

    def enter(self, node: yaml.Node) -> None:
        if id(node) in self.path:
            raise AliasRefused(
                f"{self.source} has a YAML alias inside its own anchor",
                [Problem("this anchored value contains an alias of itself, which never ends",
                         str(_location(self.source, node)))],
                fix="write the value out in full instead of the alias (`*name`) inside it")
        if id(node) in self.seen:
            self.repeated += 1
            if self.repeated > MAX_ALIAS_VALUES:
                raise AliasRefused(
                    f"{self.source}: YAML aliases expand to more than {MAX_ALIAS_VALUES} values",
                    [Problem("aliases of this anchored value (and of anchors inside it) repeat it too often",
                             str(_location(self.source, node)))],
                    fix="write the values out, or use fewer aliases of anchors that themselves hold aliases")
        self.seen.add(id(node))
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            self.path.add(id(node))

    def leave(self, node: yaml.Node) -> None:
        self.path.discard(id(node))


def _build(node: yaml.Node, path: Path_, source: str, positions: Positions,
           duplicates: list[Problem], expansion: _Expansion) -> Any:
    expansion.enter(node)
    try:
        return _build_node(node, path, source, positions, duplicates, expansion)
    finally:
        expansion.leave(node)


def _build_node(node: yaml.Node, path: Path_, source: str, positions: Positions,
                duplicates: list[Problem], expansion: _Expansion) -> Any:
    positions.values[path] = _location(source, node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(f"{source} uses a complex mapping key",
                                  [Problem("keys must be plain scalars", str(_location(source, key_node)))])
            key = _scalar(key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError(f"{source} uses a YAML merge key ('<<')",
                                  [Problem("merge keys are not supported", str(_location(source, key_node)))],
                                  fix="write the keys out explicitly")
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                first = positions.keys.get(path + (key,))
                duplicates.append(Problem(
                    f"duplicate key '{key}' (first defined at line {first.line})" if first
                    else f"duplicate key '{key}'", str(_location(source, key_node))))
            positions.keys[path + (key,)] = _location(source, key_node)
            result[key] = _build(value_node, path + (key,), source, positions, duplicates, expansion)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), source, positions, duplicates, expansion)
                for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.ScalarNode) -> Any:
    """Resolve a scalar with SafeLoader's rules (ints, floats, booleans, null)."""
    value = yaml.SafeLoader("").construct_object(node)
    if hasattr(value, "isoformat"):
        # Dates are not a config type; keep what the user wrote instead of a datetime object.
        return node.value
    return value


def parse_scalar(text: str) -> Any:
    """Parse a `--set` value the way YAML would read it in kfops.yaml (`0.1` is a float, `true` a
    boolean, `[1, 2]` a list); an empty value is the empty string, not null. No anchors or
    aliases: a value comes from a command line or a PR comment."""
    if text == "":
        return ""
    data, _ = load_yaml(text, "the value", aliases=False)
    return data
