"""The kubeconfig kfops talks to a cluster with (the Action's `kubeconfig` input, written to the file
KUBECONFIG names): read by kfops itself rather than by the kubernetes client, for two reasons.

- A file that is not YAML (a secret pasted with its indentation lost, or base64-encoded once too
  often) would otherwise escape as the YAML library's own exception, whose text quotes the line it
  stopped at: a line of the credentials. Here it is a ConfigError naming the file, the line and
  column, and the fix, without the file's content.
- Its credentials (tokens, passwords, client keys and certificates, auth-provider tokens) are
  registered for masking and scrubbing (`add_secret`) before any client can put them in a message.

The file the action writes from its `kubeconfig` input exists for this job only: kfops takes it
into memory and removes it before any pull-request code runs (`take`), so that the code, which
runs as the same user, finds no credential file to read.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError, Problem

# Keys whose values are credentials, wherever they appear under `users`.
SECRET_KEYS = frozenset({"token", "password", "client-key-data", "client-certificate-data", "id-token",
                         "refresh-token", "access-token", "client-secret"})
FIX = ("check the action's `kubeconfig` input: it must hold a whole kubeconfig file, as `kubectl config view "
       "--raw --minify` prints it, pasted into the secret unchanged")


_taken: dict[str, dict[str, Any]] = {}


def take(path: str | Path, *, add_secret: Callable[[str], None] | None = None) -> None:
    """Read the action's own kubeconfig file into memory, register its secrets, and delete it.
    Later `api_client(path)` calls are served from memory."""
    data = _registered(read_kubeconfig(path), add_secret)
    _taken[str(path)] = data
    Path(path).unlink(missing_ok=True)


def read_kubeconfig(path: str | Path) -> dict[str, Any]:
    """The kubeconfig as a mapping; ConfigError (what, where, how to fix) when it is not one."""
    from .config.yaml_source import load_yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the kubeconfig {path}",
                          [Problem(getattr(exc, "strerror", None) or type(exc).__name__, str(path))],
                          fix=FIX) from None
    try:
        data, _ = load_yaml(text, str(path))
    except ConfigError as exc:
        raise ConfigError(f"the kubeconfig {path} is not valid YAML", exc.problems, fix=FIX) from None
    if not isinstance(data, dict):
        raise ConfigError(f"the kubeconfig {path} is not a kubeconfig",
                          [Problem("the top level must be a mapping with clusters, users and contexts", str(path))],
                          fix=FIX)
    return data


def kubeconfig_secrets(data: Mapping[str, Any]) -> list[str]:
    """Every credential under `users` (also inside auth-provider and exec settings); a `-data`
    value (base64) also yields the text it decodes to, as a PEM shows up in an error."""
    found: list[str] = []
    for key, value in _items(data.get("users")):
        if key in SECRET_KEYS and isinstance(value, str) and value.strip():
            found.append(value.strip())
            if key.endswith("-data"):
                found.append(_decoded(value))
    return [s for s in dict.fromkeys(found) if s]


def api_client(path: str | Path, *, context: str | None = None,
               add_secret: Callable[[str], None] | None = None) -> Any:
    """A kubernetes ApiClient from the kubeconfig at `path`, its credentials registered first."""
    from kubernetes import config

    if str(path) in _taken:
        return config.new_client_from_config_dict(_taken[str(path)], context=context)
    _registered(read_kubeconfig(path), add_secret)
    # The client reads the file again (cheap): relative certificate paths then resolve from its
    # folder, and everything else behaves exactly as the kubernetes client always has.
    return config.new_client_from_config(config_file=str(path), context=context)


def _registered(data: dict[str, Any], add_secret: Callable[[str], None] | None) -> dict[str, Any]:
    """`data`, its credentials handed to `add_secret` first."""
    if add_secret is not None:
        for secret in kubeconfig_secrets(data):
            add_secret(secret)
    return data


def _items(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield str(key), value
            yield from _items(value)
    elif isinstance(node, list):
        for item in node:
            yield from _items(item)


def _decoded(value: str) -> str:
    try:
        return base64.b64decode(value.strip(), validate=True).decode("utf-8").strip()
    except (binascii.Error, ValueError):
        return ""
