"""The checks behind `kfc doctor`: one module per check, each returning verdict lines with a fix.

Shape taken from github/branch-deploy's `src/functions/`: small, independent functions that each
answer one question and can be tested alone. A check reads what it needs from the shared
`Context` (the loaded config, a Kubernetes client, the KFP connection), which loads each of them at
most once and remembers why it could not, so a missing kubeconfig is reported once, by the check
that owns it, and the checks after it say "skipped: the cluster is unreachable" instead of
repeating the same error five times.

Verdicts:
  ok    works as kfops needs it
  warn  works, but something will surprise you (or cannot be verified from here)
  fail  a command needs this and it is missing: `kfc doctor` exits 1
  skip  does not apply to this configuration, or an earlier check failed
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
VERDICTS = (OK, WARN, FAIL, SKIP)

PIPELINE_COMMANDS = ("/build", "/run", "/build_run", "kfc build", "kfc run")
DEPLOY_COMMANDS = ("/deploy", "/staging_deploy")


def deploy_command(environment: str) -> str:
    """The command that deploys to `environment`, as doctor's findings name it."""
    return {"production": "/deploy", "staging": "/staging_deploy"}.get(environment, f"/deploy to {environment}")


@dataclass(frozen=True)
class Result:
    """One line of the report. `fix` is the one next step; `needed_by` says what it blocks."""

    check: str
    verdict: str
    message: str
    fix: str | None = None
    needed_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "verdict": self.verdict, "message": self.message,
                "fix": self.fix, "needed_by": list(self.needed_by)}


def ok(check: str, message: str) -> Result:
    return Result(check, OK, message)


def warn(check: str, message: str, fix: str | None = None) -> Result:
    return Result(check, WARN, message, fix)


def fail(check: str, message: str, fix: str | None, needed_by: tuple[str, ...] = ()) -> Result:
    return Result(check, FAIL, message, fix, needed_by)


def skip(check: str, message: str) -> Result:
    return Result(check, SKIP, message)


@dataclass
class Context:
    """What the checks share. Everything that talks to the outside is loaded lazily, once.

    `env` is passed in (not read from os.environ by the checks) so that tests, and `kfc doctor`
    run inside the Action, decide exactly what the checks see.
    """

    env: Mapping[str, str]
    cwd: Path
    config_path: str | None = None
    kube_context: str | None = None
    endpoint: str | None = None
    config: Any = None                 # kfops_action.config.Config once the config check passed
    config_problem: str | None = None  # why there is no config
    facts: dict[str, Any] = field(default_factory=dict)  # what earlier checks learnt
    _kube: tuple[Any, str | None, str | None] | None = None  # (api client, identity, error)
    kube_factory: Callable[[str | None], Any] | None = None  # tests inject a client

    # -- config -----------------------------------------------------------------------------

    def section(self, name: str) -> dict[str, Any]:
        return self.config.section(name) if self.config is not None else {}

    @property
    def environments(self) -> dict[str, dict[str, Any]]:
        """Every configured `deployment.<env>` (production, staging, and the named ones)."""
        from ...chatops.deploy_rules import environments

        return {name: dict(env) for name, env in environments({"deployment": self.section("deployment")}).items()}

    @property
    def builder(self) -> str:
        images = self.section("images")
        return str(images.get("builder", "none")) if images.get("build") else "none"

    @property
    def needs_cluster(self) -> bool:
        return bool(self.environments) or self.builder == "kaniko"

    def cluster_users(self) -> tuple[str, ...]:
        """The commands that need the cluster with this configuration."""
        users: list[str] = []
        if self.builder == "kaniko":
            users += ["/build", "/build_run", "kfc build"]
        return tuple(users + [deploy_command(name) for name in self.environments])

    # -- the cluster ---------------------------------------------------------------------------

    def kube(self) -> tuple[Any, str | None, str | None]:
        """(api client, "context user@server", None) or (None, None, why not)."""
        if self._kube is None:
            self._kube = self._load_kube()
        return self._kube

    def _load_kube(self) -> tuple[Any, str | None, str | None]:
        context = self.kube_context or (self.section("images").get("kaniko") or {}).get("kube_context")
        if self.kube_factory is not None:
            client = self.kube_factory(context)
            return client, getattr(getattr(client, "configuration", None), "host", None), None
        try:
            from kubernetes import config as kconfig
            from kubernetes.config.config_exception import ConfigException
        except ImportError as exc:  # pragma: no cover - a dependency of kfops
            return None, None, f"the kubernetes package is missing: {exc}"
        path = self.env.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
        first = path.split(":")[0]
        try:
            client = kconfig.new_client_from_config(config_file=first, context=context)
            _, active = kconfig.list_kube_config_contexts(config_file=first)
            chosen = context or (active or {}).get("name")
            user = ((active or {}).get("context") or {}).get("user") if not context else None
            label = f"context {chosen}" + (f", user {user}" if user else "")
            return client, f"{label} at {client.configuration.host}", None
        except (ConfigException, OSError, TypeError, ValueError) as exc:
            first_error = f"no usable kubeconfig ({first}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        if context is None and self.env.get("KUBERNETES_SERVICE_HOST"):
            try:
                from kubernetes import client as kclient

                cfg = kclient.Configuration()
                kconfig.load_incluster_config(client_configuration=cfg)
                return kclient.ApiClient(cfg), f"in-cluster service account at {cfg.host}", None
            except ConfigException as exc:
                return None, None, f"{first_error}; in-cluster config failed too: {exc}"
        return None, None, first_error


Check = Callable[[Context], list[Result]]


def kube_status(exc: BaseException) -> int | None:
    """The HTTP status of a kubernetes ApiException (duck-typed: no import needed)."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) and status else None


def short(exc: BaseException) -> str:
    """One line from an exception, with the API server's own message when there is one."""
    from ...images.kube_errors import server_message

    text = server_message(exc) if getattr(exc, "body", None) or getattr(exc, "reason", None) else str(exc)
    text = " ".join(str(text).split())
    return text if len(text) <= 300 else text[:299] + "…"


def rel(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
