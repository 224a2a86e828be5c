"""Where Kubeflow Pipelines is and how to authenticate to it.

Resolution is pure (no network, the environment passed in) so that `kfc` and the Action resolve
the same way and tests need no monkeypatching. Secret values never appear in an error message:
errors name the variable or file that should hold the secret, never its content.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kfops_action.errors import ConfigError, Problem
from kfops_action.github.scrub import url_secrets

ENDPOINT_ENV = "KF_PIPELINES_ENDPOINT"
UI_ENDPOINT_ENV = "KF_PIPELINES_UI_ENDPOINT"
DEFAULT_TOKEN_ENV = "KF_PIPELINES_TOKEN"
DEFAULT_COOKIE_ENV = "KF_PIPELINES_COOKIE"
DEFAULT_TOKEN_FILE = "/var/run/secrets/kubeflow/pipelines/token"
AUTH_TYPES = ("none", "token", "cookie", "service_account_token")

_CONFIG = "kfops.yaml"


@dataclass(frozen=True)
class Connection:
    """Everything needed to talk to one KFP API server.

    `token` and `cookie` are excluded from repr so that a logged or printed Connection never
    leaks them. `auth_source` says where the credential came from (e.g. "environment variable
    KF_PIPELINES_TOKEN") so a 401 can tell the user what to refresh.
    """

    endpoint: str
    ui_endpoint: str | None = None
    token: str | None = field(default=None, repr=False)
    cookie: str | None = field(default=None, repr=False)
    verify_ssl: bool = True
    ca_cert: str | None = None
    timeout: float = 30.0
    namespace: str | None = None
    auth_source: str | None = None
    token_file: str | None = None  # a service-account token: re-read on every request (rotated)

    def current_token(self, previous: str | None = None) -> str | None:
        """The token to send now. A projected service-account token is rotated by the kubelet
        (hourly, by default), so the file is read again on each request; a failed read (the file
        replaced at that very moment) keeps the token sent before (`previous`), which the server
        will accept or refuse."""
        if self.token_file is None:
            return self.token
        try:
            fresh = Path(self.token_file).read_text(encoding="utf-8").strip()
        except OSError:
            fresh = ""
        return fresh or previous or self.token

    def secrets(self) -> list[str]:
        """Values to scrub from any text shown to a user or posted to GitHub.

        A cookie like `authservice_session=abc; other=def` also yields each value on its own,
        because a server may echo only the value part back. Credentials written into the endpoint
        URLs (user:password@, a query value, a token as a path segment) count too: run links and
        error messages are built on those URLs.
        """
        found: list[str] = [*url_secrets(self.endpoint), *url_secrets(self.ui_endpoint)]
        if self.token:
            found.append(self.token)
        current = self.current_token() if self.token_file else None
        if current and current != self.token:
            found.append(current)
        if self.cookie:
            found.append(self.cookie)
            for pair in self.cookie.split(";"):
                _, sep, value = pair.strip().partition("=")
                if sep and len(value) >= 4:
                    found.append(value)
        return found

    @property
    def run_link_base(self) -> str:
        """Base URL of the KFP UI: the UI is often served elsewhere than the API."""
        return self.ui_endpoint or self.endpoint


def resolve_connection(kubeflow: Mapping[str, Any] | None, *, namespace: str | None,
                       endpoint_override: str | None, env: Mapping[str, str],
                       base_dir: Path) -> Connection:
    """Build a Connection from the `kubeflow` section of kfops.yaml, flags and the environment.

    Endpoint precedence: `--endpoint` > $KF_PIPELINES_ENDPOINT > kubeflow.endpoint, so a
    developer can point `kfc` at a port-forward without editing the shared config. Empty
    environment variables count as unset (GitHub Actions passes unset inputs as "").
    """
    section: Mapping[str, Any] = kubeflow or {}
    parts, problems = _resolve_parts(section, endpoint_override, env, base_dir)
    if problems:
        raise next(iter(problems.values()))
    token, cookie, source = parts["auth"]
    auth = section.get("auth")
    token_file = (str(_resolve_path(str(auth.get("token_file") or DEFAULT_TOKEN_FILE), base_dir))
                  if isinstance(auth, Mapping) and auth.get("type") == "service_account_token" else None)
    return Connection(
        endpoint=parts["endpoint"],
        ui_endpoint=parts["ui_endpoint"],
        token=token,
        cookie=cookie,
        verify_ssl=parts["verify_ssl"],
        ca_cert=parts["ca_cert"],
        timeout=parts["timeout"],
        namespace=namespace or None,
        auth_source=source,
        token_file=token_file,
    )


def resolve_each_part(kubeflow: Mapping[str, Any] | None, *, endpoint_override: str | None,
                      env: Mapping[str, str], base_dir: Path) -> tuple[dict[str, Any], dict[str, ConfigError]]:
    """The parts that resolve ("endpoint", "auth": (token, cookie, source), ...) and every reason
    `resolve_connection` would refuse, by part, not only the first: `kfc doctor` reports a missing
    token and a placeholder endpoint at once."""
    return _resolve_parts(kubeflow or {}, endpoint_override, env, base_dir)


def _resolve_parts(section: Mapping[str, Any], override: str | None, env: Mapping[str, str],
                   base_dir: Path) -> tuple[dict[str, Any], dict[str, ConfigError]]:
    """Each part of a Connection resolved on its own, so that one bad part does not hide another."""
    steps: dict[str, Any] = {
        "endpoint": lambda: _resolve_endpoint(section, override, env),
        "ui_endpoint": lambda: _resolve_ui_endpoint(section, env),
        "auth": lambda: _resolve_auth(section.get("auth"), env, base_dir),
        "verify_ssl": lambda: _bool_option(section, "verify_ssl", True),
        "ca_cert": lambda: _resolve_ca_cert(section.get("ca_cert"), base_dir),
        "timeout": lambda: _timeout_option(section),
    }
    parts: dict[str, Any] = {}
    problems: dict[str, ConfigError] = {}  # in the order above: resolve_connection raises the first
    for part, step in steps.items():
        try:
            parts[part] = step()
        except ConfigError as exc:
            problems[part] = exc
    return parts, problems


def _nonempty(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value and value.strip() else None


def _resolve_endpoint(section: Mapping[str, Any], override: str | None,
                      env: Mapping[str, str]) -> str:
    candidates = [
        (override, "--endpoint"),
        (_nonempty(env, ENDPOINT_ENV), f"environment variable {ENDPOINT_ENV}"),
        (section.get("endpoint"), f"{_CONFIG}: kubeflow.endpoint"),
    ]
    for value, where in candidates:
        if value:
            return _check_url(str(value).strip(), where)
    raise ConfigError(
        "no Kubeflow Pipelines endpoint is configured",
        [Problem("the API URL is needed to talk to Kubeflow Pipelines", "kubeflow.endpoint")],
        fix=(f"pass --endpoint URL, set {ENDPOINT_ENV}, or set kubeflow.endpoint in {_CONFIG} "
             "(e.g. https://kubeflow.example.com/pipeline)"),
    )


def _resolve_ui_endpoint(section: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    from_env = _nonempty(env, UI_ENDPOINT_ENV)
    if from_env:
        return _check_url(from_env.strip(), f"environment variable {UI_ENDPOINT_ENV}")
    value = section.get("ui_endpoint")
    return _check_url(str(value).strip(), f"{_CONFIG}: kubeflow.ui_endpoint") if value else None


def _check_url(url: str, where: str) -> str:
    """Reject what urllib3 would fail on later with an obscure message."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"invalid Kubeflow Pipelines URL {url!r}",
            [Problem("must start with http:// or https:// and name a host", where)],
            fix="use the full URL, e.g. https://kubeflow.example.com/pipeline",
        )
    return url.rstrip("/")


def _resolve_auth(auth: Any, env: Mapping[str, str],
                  base_dir: Path) -> tuple[str | None, str | None, str | None]:
    """Return (token, cookie, description of the source)."""
    if auth is None:
        return _implicit_auth(env)
    if not isinstance(auth, Mapping):
        raise ConfigError("kubeflow.auth must be a mapping",
                          [Problem(f"got {type(auth).__name__}", f"{_CONFIG}: kubeflow.auth")],
                          fix="e.g. auth: {type: token, token_env: KF_PIPELINES_TOKEN}")
    kind = auth.get("type", "none")
    if kind == "none":
        return None, None, None
    if kind == "token":
        name = str(auth.get("token_env") or DEFAULT_TOKEN_ENV)
        return _required_env(env, name, "a bearer token", kind, DEFAULT_TOKEN_ENV), None, \
            f"environment variable {name}"
    if kind == "cookie":
        name = str(auth.get("cookie_env") or DEFAULT_COOKIE_ENV)
        return None, _required_env(env, name, "a session cookie", kind, DEFAULT_COOKIE_ENV), \
            f"environment variable {name}"
    if kind == "service_account_token":
        path = _resolve_path(str(auth.get("token_file") or DEFAULT_TOKEN_FILE), base_dir)
        return _read_token_file(path), None, f"token file {path}"
    raise ConfigError(
        f"unknown kubeflow.auth.type {kind!r}",
        [Problem(f"must be one of {', '.join(AUTH_TYPES)}", f"{_CONFIG}: kubeflow.auth.type")],
        fix="pick one of: " + ", ".join(AUTH_TYPES),
    )


def _implicit_auth(env: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
    """Without an `auth` section, use whatever standard credential the environment holds."""
    token = _nonempty(env, DEFAULT_TOKEN_ENV)
    if token:
        return token.strip(), None, f"environment variable {DEFAULT_TOKEN_ENV}"
    cookie = _nonempty(env, DEFAULT_COOKIE_ENV)
    if cookie:
        return None, cookie.strip(), f"environment variable {DEFAULT_COOKIE_ENV}"
    return None, None, None


def _required_env(env: Mapping[str, str], name: str, what: str, kind: str, action_env: str) -> str:
    value = _nonempty(env, name)
    if value is None:
        from kfops_action.workflow_secrets import kubeflow_hint

        raise ConfigError(
            f"environment variable {name} is not set or empty",
            [Problem(f"kubeflow.auth expects {what} in {name}", f"{_CONFIG}: kubeflow.auth")],
            fix=f"export {name} here; {kubeflow_hint(kind, name, action_env)}; or change kubeflow.auth",
        )
    return value.strip()


def _resolve_path(path: str, base_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else base_dir / candidate


def _read_token_file(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the service-account token file {path}",
            [Problem(exc.strerror or type(exc).__name__, f"{_CONFIG}: kubeflow.auth.token_file")],
            fix=("mount a projected service-account token with audience pipelines.kubeflow.org "
                 "at that path, or set kubeflow.auth.token_file"),
        ) from None
    if not token:
        raise ConfigError(f"the service-account token file {path} is empty",
                          [Problem("no token in the file", f"{_CONFIG}: kubeflow.auth.token_file")],
                          fix="check the projected volume that should write the token")
    return token


def _resolve_ca_cert(value: Any, base_dir: Path) -> str | None:
    if not value:
        return None
    path = _resolve_path(str(value), base_dir)
    if not path.is_file():
        raise ConfigError(f"CA bundle {path} does not exist",
                          [Problem("kubeflow.ca_cert must name a PEM file",
                                   f"{_CONFIG}: kubeflow.ca_cert")],
                          fix="fix the path (a relative path starts at the config's folder)")
    return str(path)


def _bool_option(section: Mapping[str, Any], key: str, default: bool) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"kubeflow.{key} must be true or false",
                          [Problem(f"got {value!r}", f"{_CONFIG}: kubeflow.{key}")],
                          fix=f"write `{key}: true` or `{key}: false`")
    return value


def _timeout_option(section: Mapping[str, Any]) -> float:
    value = section.get("timeout_seconds", 30.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError("kubeflow.timeout_seconds must be a positive number",
                          [Problem(f"got {value!r}", f"{_CONFIG}: kubeflow.timeout_seconds")],
                          fix="e.g. timeout_seconds: 30")
    return float(value)
