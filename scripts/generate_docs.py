#!/usr/bin/env python3
"""Generate the parts of docs/ that come from the code, so they cannot drift from it.

    python scripts/generate_docs.py           rewrite them
    python scripts/generate_docs.py --check   exit 1 (and say which) when one is stale

What is generated here:
- docs/config-reference.md, entirely, from kfops_action/config/schema.json (the schema `kfc
  validate` and the Action enforce);
- the RBAC tables in docs/cluster.md, from kfops_action/onboarding/rbac.py (the rules `kfc doctor`
  checks and `kfc init` grants);
- the list of doctor checks in docs/doctor.md, from kfops_action/onboarding/doctor.py.

Outputs that need a running program (the PR conversation, `kfc init` and `kfc doctor` transcripts)
are captured by tests/test_docs.py from the real code against the test fakes, into blocks of the
same form: `<!-- generated:NAME -->` ... `<!-- /generated:NAME -->`. tests/test_docs.py fails when
any of them is stale; `KFOPS_UPDATE_DOCS=1 pytest tests/test_docs.py` rewrites them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "config-reference.md"

_BLOCK = re.compile(r"(<!-- generated:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /generated:(?P=name) -->)", re.S)


# -- blocks in handwritten pages ----------------------------------------------------------------------


def block_names(text: str) -> list[str]:
    return [m.group("name") for m in _BLOCK.finditer(text)]


def replace_block(text: str, name: str, content: str) -> str:
    """`text` with the body of block `name` replaced by `content` (which must end in a newline)."""
    found = False

    def swap(match: re.Match[str]) -> str:
        nonlocal found
        if match.group("name") != name:
            return match.group(0)
        found = True
        return match.group(1) + content + match.group(4)

    out = _BLOCK.sub(swap, text)
    if not found:
        raise KeyError(f"no block <!-- generated:{name} --> in the page")
    return out


def block(text: str, name: str) -> str:
    for match in _BLOCK.finditer(text):
        if match.group("name") == name:
            return match.group("body")
    raise KeyError(name)


# -- the config reference -----------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The node a `$ref` points at, with what the referring node says about its properties laid
    over it (`deployment.production` changes the default of `required_approvals`)."""
    ref = node.get("$ref")
    if not (isinstance(ref, str) and ref.startswith("#/$defs/")):
        return node
    target = schema["$defs"][ref.split("/")[-1]]
    overrides = node.get("properties") or {}
    if not overrides:
        return target
    props = {key: {**child, **overrides.get(key, {})} for key, child in (target.get("properties") or {}).items()}
    return {**target, "properties": props}


def _type(node: dict[str, Any]) -> str:
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type")
    names = {"object": "mapping", "array": "list", "string": "string", "integer": "integer",
             "number": "number", "boolean": "boolean"}
    if isinstance(kind, list):
        return " or ".join(names.get(k, k) for k in kind)
    if kind == "array":
        items = node.get("items") or {}
        inner = _type(items) if items.get("type") != "object" else "mapping"
        return f"list of {inner}"
    if kind == "object" and "additionalProperties" in node and isinstance(node["additionalProperties"], dict):
        return f"mapping of {_type(node['additionalProperties'])}"
    return names.get(kind, "any") if kind else "any"


_HINTS = {
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "a Kubernetes name",
    "^[a-z]([-a-z0-9]*[a-z0-9])?$": "a Kubernetes service name (starts with a letter)",
    "^[A-Za-z_][A-Za-z0-9_]*$": "an identifier",
    "^https?://": "an http(s) URL",
    "^[^/]+/[^/]+$": "org/team",
    "^[a-z0-9]+([._-][a-z0-9]+)*$": "an image name",
    "^(all|none)$": "all, none, or a list of check names",
    "^[1-9][0-9]*[mhdw]$": "a number and a unit: m, h, d or w (e.g. 7d)",
    "^(?!(gates|to)$)[a-z][a-z0-9-]{0,30}$": "an environment name",
}


def _constraints(node: dict[str, Any]) -> str:
    parts = []
    if "pattern" in node:
        parts.append(_HINTS.get(node["pattern"], f"matches `{node['pattern']}`"))
    for key, word in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤")):
        if key in node:
            parts.append(f"{word} {node[key]}")
    if "maxLength" in node:
        parts.append(f"at most {node['maxLength']} characters")
    if node.get("minLength") == 1 and "pattern" not in node:
        parts.append("not empty")
    if node.get("uniqueItems"):
        parts.append("no duplicates")
    return "; ".join(parts)


def _rows(schema: dict[str, Any], node: dict[str, Any], path: str, required: set[str]) -> Iterator[list[str]]:
    node = _resolve(schema, node)
    props: dict[str, Any] = node.get("properties") or {}
    for key, child in props.items():
        child_resolved = _resolve(schema, child)
        child_path = f"{path}.{key}" if path else key
        default = child_resolved.get("default")
        yield [f"`{child_path}`", _type(child_resolved), "yes" if key in required else "",
               "" if default is None else f"`{json.dumps(default)}`",
               _cell(child_resolved.get("description", "") or child.get("description", "")),
               _constraints(child_resolved)]
        yield from _children(schema, child_resolved, child_path)
    for pattern, child in (node.get("patternProperties") or {}).items():
        names = pattern.strip("^$()").split("|")
        child_path = f"{path}.{child.get('x-name') or '<' + '|'.join(names) + '>'}"
        yield [f"`{child_path}`", "mapping", "", "", _cell(child.get("description") or "one entry per command"), ""]
        yield from _rows(schema, child, child_path, set(child.get("required", [])))


def _children(schema: dict[str, Any], node: dict[str, Any], path: str) -> Iterator[list[str]]:
    if node.get("type") == "object" and node.get("properties"):
        yield from _rows(schema, node, path, set(node.get("required", [])))
    elif node.get("patternProperties"):
        yield from _rows(schema, node, path, set())
    elif node.get("type") == "array" and isinstance(node.get("items"), dict) \
            and node["items"].get("type") == "object":
        yield from _rows(schema, node["items"], f"{path}[]", set(node["items"].get("required", [])))


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def config_reference(schema: dict[str, Any]) -> str:
    """docs/config-reference.md: one table per top-level section, every key with its type,
    whether it is required, its default, what it means and its constraints."""
    lines = [
        "# kfops.yaml reference",
        "",
        "<!-- Generated by scripts/generate_docs.py from kfops_action/config/schema.json: do not edit. -->",
        "",
        _cell(schema.get("description", "")),
        "",
        "Generated from the JSON Schema that `kfc validate`, `kfc doctor` and the Action enforce "
        "(`kfc schema` prints it; point your editor at it with "
        "`# yaml-language-server: $schema=kfops.schema.json`). Keys not listed here are errors. "
        "Paths are relative to kfops.yaml. Only `pipeline` may be changed by `--set` and "
        "`--config-override` (and by `--set` in a PR comment); `kubeflow`, `deployment`, `metrics` "
        "and `chatops` are always read from the base branch.",
        "",
        "Sections: " + ", ".join(f"[`{k}`](#{k})" for k in schema["properties"]) + ".",
        "",
    ]
    required = set(schema.get("required", []))
    header = ["| key | type | required | default | description | constraints |", "|---|---|---|---|---|---|"]
    for key, node in schema["properties"].items():
        resolved = _resolve(schema, node)
        lines += [f"## `{key}`", "", _cell(resolved.get("description", "")) or f"`{key}`.", ""]
        if key in required:
            lines += ["Required.", ""]
        rows = list(_children(schema, resolved, key))
        if not rows:
            lines += [f"Type: {_type(resolved)}" + (f"; {_constraints(resolved)}" if _constraints(resolved) else ""),
                      ""]
            continue
        lines += header + ["| " + " | ".join(row) + " |" for row in rows] + [""]
    return "\n".join(lines).rstrip() + "\n"


# -- blocks from the code -------------------------------------------------------------------------------


def static_blocks() -> dict[Path, dict[str, str]]:
    """The blocks this script owns: {page: {block name: content}}."""
    sys.path.insert(0, str(ROOT))
    from kfops_action.onboarding import doctor, rbac

    checks = ["| check | what it asks |", "|---|---|"]
    for name, check in doctor.CHECKS:
        module = sys.modules[check.__module__]
        first = (module.__doc__ or "").strip().split("\n\n")[0]
        checks.append(f"| `{name}` | {_cell(first)} |")
    return {
        DOCS / "cluster.md": {
            "rbac-deploy": rbac.markdown_table(rbac.DEPLOY_RULES) + "\n",
            "rbac-build": rbac.markdown_table(rbac.BUILD_RULES) + "\n",
        },
        DOCS / "doctor.md": {"checks": "\n".join(checks) + "\n"},
    }


def expected() -> dict[Path, str]:
    """Every generated file's expected full text."""
    sys.path.insert(0, str(ROOT))
    from kfops_action.config.validation import schema

    out = {REFERENCE: config_reference(schema())}
    for page, blocks in static_blocks().items():
        text = page.read_text(encoding="utf-8")
        for name, content in blocks.items():
            text = replace_block(text, name, content)
        out[page] = text
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a page is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected().items():
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print("stale: " + ", ".join(map(str, stale)) + " (run python scripts/generate_docs.py)", file=sys.stderr)
        return 1
    for path in stale:
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
