"""A thin adapter over `kfp_server_api`, the REST client generated from KFP's v2beta1 API.

Not `kfp.Client`: that one retries /healthz 5x5s on an unreachable host, reads and writes
~/.config/kfp/context.json, prints links to stdout and emits FutureWarnings. Here every request
has a timeout, urllib3's own retries are off (an unreachable host fails in milliseconds, the
caller decides whether to retry), and every failure becomes a RemoteError that says what was
being done, at which URL, and how to fix it, with the token and cookie scrubbed.

`kfp_server_api` is imported lazily so that importing this module costs nothing for commands
that never talk to Kubeflow.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from kfops_action.errors import PipelineError, Problem, RemoteError
from kfops_action.kubeflow.connection import Connection

API = "/apis/v2beta1"
PACKAGE_SUFFIXES = (".yaml", ".yml", ".zip", ".tar.gz", ".tgz")
_PAGE_SIZE = 100
_MAX_PAGES = 100
_MAX_MESSAGE = 500


class Unreachable(RemoteError):
    """No HTTP answer at all (DNS, refused, timeout, TLS). Worth retrying while polling a run."""


class NotFound(RemoteError):
    """HTTP 404. `from_api` tells KFP's own JSON 'no such object' from a router's plain 404
    (wrong endpoint path, or a KFP too old to have the route)."""

    from_api: bool = False


@dataclass(frozen=True)
class PipelineVersionRef:
    """A pipeline version in KFP; `created` is True when this call uploaded anything."""

    pipeline_id: str
    version_id: str
    pipeline_name: str
    version_name: str
    created: bool


@dataclass(frozen=True)
class RunRef:
    run_id: str
    display_name: str
    url: str
    experiment_id: str


@dataclass(frozen=True)
class ExperimentRef:
    """An experiment as KFP holds it; `namespace` is the profile namespace its runs live in
    (None on single-user KFP)."""

    experiment_id: str
    display_name: str
    namespace: str | None


@dataclass(frozen=True)
class TaskState:
    """One task of a run. `outputs`: (output name, artifact ids) as the v2beta1 API lists them;
    the artifacts' URIs and metric values are in ML Metadata, which this REST API does not expose."""

    name: str
    state: str
    error: str | None = None
    outputs: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class RunStatus:
    """A snapshot of a run. CANCELING counts as terminal: nothing we wait for happens after it."""

    run_id: str
    state: str
    error: str | None
    created_at: datetime | None
    finished_at: datetime | None
    tasks: tuple[TaskState, ...] = ()
    # Where the run comes from, as KFP records it (what /deploy and /cancel check it against).
    display_name: str | None = None
    experiment_id: str | None = None
    pipeline_id: str | None = None
    pipeline_version_id: str | None = None

    TERMINAL: ClassVar[frozenset[str]] = frozenset(
        {"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED", "CANCELING"})

    @property
    def terminal(self) -> bool:
        return self.state in self.TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.state in ("SUCCEEDED", "SKIPPED")

    @property
    def failed_tasks(self) -> tuple[TaskState, ...]:
        return tuple(t for t in self.tasks if t.state == "FAILED")


class KfpRemote:
    """KFP operations kfops needs, each one idempotent where KFP allows it."""

    def __init__(self, conn: Connection) -> None:
        """No network I/O and no import of kfp_server_api here: both happen on first use."""
        self._conn = conn
        self._apis: SimpleNamespace | None = None

    @property
    def connection(self) -> Connection:
        return self._conn

    # -- pipelines -------------------------------------------------------------------------

    def ensure_pipeline_version(self, name: str, version_name: str, package_path: Path,
                                description: str = "") -> PipelineVersionRef:
        """Return the version `version_name` of pipeline `name`, uploading only what is missing.

        A missing pipeline is created empty (CreatePipeline) and the package is then uploaded as
        its first version, so that version carries `version_name`. (UploadPipeline would instead
        create a first version named after the pipeline, a duplicate of the one we want.)
        Re-running with the same version name uploads nothing, so a retried `/build` is safe.
        """
        package = _check_package(package_path)
        pipeline_id, created = self._find_pipeline(name), False
        if pipeline_id is None:
            pipeline_id, created = self._create_pipeline(name, description)
            version = None
        else:
            version = self._find_version(pipeline_id, version_name)
        if version is not None:
            return PipelineVersionRef(pipeline_id, version, name, version_name, created=False)
        version_id, uploaded = self._upload_version(pipeline_id, version_name, package,
                                                    description)
        return PipelineVersionRef(pipeline_id, version_id, name, version_name,
                                  created=created or uploaded)

    def _find_pipeline(self, name: str) -> str | None:
        path = f"{API}/pipelines/names/{quote(name, safe='')}"
        try:
            found = self._call(f"look up pipeline {name!r}", path,
                               self._api().pipelines.pipeline_service_get_pipeline_by_name,
                               name, **self._ns_kwargs())
        except RemoteError as exc:
            if isinstance(exc, NotFound) and exc.from_api:
                return None
            if isinstance(exc, NotFound):
                # A plain-text 404: this KFP predates the by-name route. Fall back to a list.
                return self._find_pipeline_by_list(name)
            raise
        return self._require(found.pipeline_id, "pipeline_id", path)

    def _find_pipeline_by_list(self, name: str) -> str | None:
        path = f"{API}/pipelines"
        pipelines = self._list_all(f"list pipelines named {name!r}", path,
                                   self._api().pipelines.pipeline_service_list_pipelines,
                                   "pipelines", filter=_equals("name", name), **self._ns_kwargs())
        for pipeline in pipelines:
            if pipeline.name == name:
                return self._require(pipeline.pipeline_id, "pipeline_id", path)
        return None

    def _create_pipeline(self, name: str, description: str) -> tuple[str, bool]:
        """Return (pipeline id, whether we created it)."""
        models = self._api().models
        body = models.V2beta1Pipeline(name=name, display_name=name,
                                      description=description or None,
                                      namespace=self._conn.namespace)
        path = f"{API}/pipelines"
        try:
            created = self._call(f"create pipeline {name!r}", path,
                                 self._api().pipelines.pipeline_service_create_pipeline, body)
        except RemoteError as exc:
            existing = self._find_pipeline(name) if exc.status == 409 else None
            if existing is None:
                raise
            return existing, False  # created concurrently by another build
        return self._require(created.pipeline_id, "pipeline_id", path), True

    def _find_version(self, pipeline_id: str, version_name: str) -> str | None:
        path = f"{API}/pipelines/{pipeline_id}/versions"
        versions = self._list_all(
            f"list versions of pipeline {pipeline_id}", path,
            self._api().pipelines.pipeline_service_list_pipeline_versions, "pipeline_versions",
            pipeline_id, filter=_equals("name", version_name))
        for version in versions:
            if version.name == version_name:
                return self._require(version.pipeline_version_id, "pipeline_version_id", path)
        return None

    def _upload_version(self, pipeline_id: str, version_name: str, package: Path,
                        description: str) -> tuple[str, bool]:
        """Return (version id, whether we uploaded it)."""
        path = f"{API}/pipelines/upload_version"
        try:
            uploaded = self._call(
                f"upload {package.name} as version {version_name!r}", path,
                self._api().upload.upload_pipeline_version, str(package), name=version_name,
                display_name=version_name, pipelineid=pipeline_id,
                description=description or None)
        except RemoteError as exc:
            existing = self._find_version(pipeline_id, version_name) if exc.status == 409 else None
            if existing is None:
                raise
            return existing, False  # uploaded concurrently by another build
        return self._require(uploaded.pipeline_version_id, "pipeline_version_id", path), True

    def get_pipeline_version(self, pipeline_id: str, version_id: str) -> PipelineVersionRef:
        """A stored version and its pipeline's name, read back by id (`created` is False)."""
        path = f"{API}/pipelines/{pipeline_id}"
        pipeline = self._call(f"read pipeline {pipeline_id}", path,
                              self._api().pipelines.pipeline_service_get_pipeline, pipeline_id)
        version = self._call(f"read version {version_id} of pipeline {pipeline_id}",
                             f"{path}/versions/{version_id}",
                             self._api().pipelines.pipeline_service_get_pipeline_version,
                             pipeline_id, version_id)
        return PipelineVersionRef(pipeline_id, version_id, pipeline.name or pipeline.display_name or "",
                                  version.name or version.display_name or "", created=False)

    # -- experiments -----------------------------------------------------------------------

    def get_experiment(self, experiment_id: str) -> ExperimentRef:
        path = f"{API}/experiments/{experiment_id}"
        found = self._call(f"read experiment {experiment_id}", path,
                           self._api().experiments.experiment_service_get_experiment, experiment_id)
        return ExperimentRef(self._require(found.experiment_id, "experiment_id", path),
                             found.display_name or "", found.namespace or None)

    def ensure_experiment(self, name: str) -> str:
        """Get or create experiment `name` in the connection's namespace; return its id."""
        existing = self._find_experiment(name)
        if existing is not None:
            return existing
        models = self._api().models
        body = models.V2beta1Experiment(display_name=name, namespace=self._conn.namespace)
        path = f"{API}/experiments"
        try:
            created = self._call(f"create experiment {name!r}", path,
                                 self._api().experiments.experiment_service_create_experiment,
                                 body)
        except RemoteError as exc:
            existing = self._find_experiment(name) if exc.status == 409 else None
            if existing is None:
                raise
            return existing
        return self._require(created.experiment_id, "experiment_id", path)

    def _find_experiment(self, name: str) -> str | None:
        path = f"{API}/experiments"
        experiments = self._list_all(
            f"look up experiment {name!r}", path,
            self._api().experiments.experiment_service_list_experiments, "experiments",
            filter=_equals("display_name", name), **self._ns_kwargs())
        for experiment in experiments:
            if experiment.display_name == name:
                return self._require(experiment.experiment_id, "experiment_id", path)
        return None

    # -- runs ------------------------------------------------------------------------------

    def start_run(self, *, display_name: str, experiment_id: str, version: PipelineVersionRef,
                  parameters: dict[str, Any], service_account: str | None = None,
                  pipeline_root: str | None = None,
                  description: str = "") -> RunRef:
        """Create a run of `version` (by reference, so the KFP UI links the run to its version).

        Caching is not a run option here: the v2beta1 API has none for a stored version, so
        `pipeline.caching` is written into the compiled package before upload (see
        pipeline.package.with_caching).
        """
        models = self._api().models
        run = models.V2beta1Run(
            display_name=display_name,
            description=description or None,
            experiment_id=experiment_id,
            pipeline_version_reference=models.V2beta1PipelineVersionReference(
                pipeline_id=version.pipeline_id, pipeline_version_id=version.version_id),
            runtime_config=models.V2beta1RuntimeConfig(parameters=dict(parameters),
                                                       pipeline_root=pipeline_root or None),
            service_account=service_account or None,
        )
        path = f"{API}/runs"
        created = self._call(f"start run {display_name!r}", path,
                             self._api().runs.run_service_create_run, run)
        run_id = self._require(created.run_id, "run_id", path)
        return RunRef(run_id=run_id, display_name=created.display_name or display_name,
                      url=self.run_url(run_id),
                      experiment_id=created.experiment_id or experiment_id)

    def get_run(self, run_id: str) -> RunStatus:
        path = f"{API}/runs/{run_id}"
        run = self._call(f"read run {run_id}", path, self._api().runs.run_service_get_run,
                         run_id)
        return _to_status(run, self._require(run.run_id, "run_id", path))

    def terminate_run(self, run_id: str) -> None:
        path = f"{API}/runs/{run_id}:terminate"
        self._call(f"terminate run {run_id}", path, self._api().runs.run_service_terminate_run,
                   run_id)

    def run_url(self, run_id: str) -> str:
        return f"{self._conn.run_link_base}/#/runs/details/{run_id}"

    # -- plumbing --------------------------------------------------------------------------

    def _api(self) -> SimpleNamespace:
        if self._apis is None:
            self._apis = _build_apis(self._conn)
        return self._apis

    def _ns_kwargs(self) -> dict[str, str]:
        return {"namespace": self._conn.namespace} if self._conn.namespace else {}

    def _call(self, what: str, path: str, fn: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Any:
        """Call one generated API method; turn every failure into a RemoteError."""
        # kfp_server_api silently ignores a float timeout (only int or a pair is honoured).
        kwargs["_request_timeout"] = (self._conn.timeout, self._conn.timeout)
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - narrowed in _translate, re-raised otherwise
            error = _translate(exc, what, self._conn.endpoint + path, self._conn)
            if error is None:
                raise
            raise error from exc

    def _list_all(self, what: str, path: str, fn: Callable[..., Any], items: str,
                  *args: Any, **kwargs: Any) -> Iterator[Any]:
        token: str | None = None
        for _ in range(_MAX_PAGES):
            page = self._call(what, path, fn, *args, page_size=_PAGE_SIZE, page_token=token,
                              **kwargs)
            yield from getattr(page, items, None) or []
            token = page.next_page_token
            if not token:
                return

    def _require(self, value: Any, field_name: str, path: str) -> Any:
        """A 200 without the field means we did not talk to the KFP API (e.g. a login page)."""
        if value in (None, ""):
            raise RemoteError(
                f"{self._conn.endpoint} answered without {field_name}: it does not look like "
                "the Kubeflow Pipelines v2beta1 API",
                [Problem("the answer was not the expected KFP object", self._conn.endpoint + path)],
                fix=("check the endpoint: it must be the KFP API base URL (e.g. "
                     "https://host/pipeline); an HTML login page means the credentials are "
                     "missing or expired"),
            )
        return value


def _build_apis(conn: Connection) -> SimpleNamespace:
    import kfp_server_api
    import urllib3

    config = kfp_server_api.Configuration(host=conn.endpoint)
    config.verify_ssl = conn.verify_ssl
    config.ssl_ca_cert = conn.ca_cert
    # No retries: fail fast; a redirect (to a login page) is returned, not followed.
    config.retries = urllib3.util.Retry(total=0, redirect=0, raise_on_redirect=False,
                                        raise_on_status=False)
    if conn.token:
        config.api_key["authorization"] = conn.token
        config.api_key_prefix["authorization"] = "Bearer"
    if conn.token_file:
        # Called by the generated client before each request that sends the token.
        def refresh(cfg: Any) -> None:
            cfg.api_key["authorization"] = conn.current_token(cfg.api_key.get("authorization"))

        config.refresh_api_key_hook = refresh
    client = kfp_server_api.ApiClient(config, cookie=conn.cookie)
    client.user_agent = "kfops"
    return SimpleNamespace(
        models=kfp_server_api.models,
        pipelines=kfp_server_api.PipelineServiceApi(client),
        upload=kfp_server_api.PipelineUploadServiceApi(client),
        experiments=kfp_server_api.ExperimentServiceApi(client),
        runs=kfp_server_api.RunServiceApi(client),
    )


def _check_package(package_path: Path) -> Path:
    """KFP picks the parser from the file name; catch a wrong one before uploading."""
    path = Path(package_path)
    if not path.name.endswith(PACKAGE_SUFFIXES):
        raise PipelineError(f"cannot upload {path}: KFP accepts only "
                            f"{', '.join(PACKAGE_SUFFIXES)} packages",
                            [Problem("unsupported file name", str(path))],
                            fix="compile the pipeline to a .yaml file")
    if not path.is_file():
        raise PipelineError(f"pipeline package {path} does not exist",
                            [Problem("no such file", str(path))],
                            fix="compile the pipeline first (kfc build)")
    return path


def _equals(key: str, value: str) -> str:
    """A v2beta1 Filter, JSON-encoded as the `filter` query parameter expects."""
    return json.dumps({"predicates": [{"key": key, "operation": "EQUALS",
                                       "string_value": value}]})


def _to_status(run: Any, run_id: str) -> RunStatus:
    details = run.run_details.task_details if run.run_details else None
    tasks = tuple(
        TaskState(name=t.display_name or t.task_id or "?",
                  state=t.state or "RUNTIME_STATE_UNSPECIFIED",
                  error=_message_of(t.error),
                  outputs=tuple(sorted((str(name), tuple(str(i) for i in (lst.artifact_ids or [])))
                                       for name, lst in (t.outputs or {}).items() if lst is not None)))
        for t in details or [])
    reference = run.pipeline_version_reference
    return RunStatus(run_id=run_id, state=run.state or "RUNTIME_STATE_UNSPECIFIED",
                     error=_message_of(run.error), created_at=_real_time(run.created_at),
                     finished_at=_real_time(run.finished_at), tasks=tasks,
                     display_name=run.display_name or None, experiment_id=run.experiment_id or None,
                     pipeline_id=(reference.pipeline_id if reference else None) or None,
                     pipeline_version_id=(reference.pipeline_version_id if reference else None)
                     or run.pipeline_version_id or None)


def _message_of(status: Any) -> str | None:
    message = getattr(status, "message", None) if status is not None else None
    return message or None


def _real_time(value: datetime | None) -> datetime | None:
    """KFP reports 'not finished yet' as the Unix epoch."""
    if value is None or value.timestamp() <= 0:
        return None
    return value


# -- error translation ----------------------------------------------------------------------


def _translate(exc: Exception, what: str, url: str, conn: Connection) -> RemoteError | None:
    """Map a kfp_server_api/urllib3 failure to a RemoteError; None for anything else."""
    import urllib3
    from kfp_server_api.exceptions import ApiException

    if isinstance(exc, ApiException) and exc.status:
        return _http_error(exc, what, url, conn)
    if isinstance(exc, ApiException) and str(exc.reason).startswith("SSLError"):
        return _unreachable(f"TLS failure: {_last_line(exc.reason)}", what, url, conn, tls=True)
    if isinstance(exc, ApiException):  # status 0: an answer the generated client cannot parse
        return _scrubbed(RemoteError, conn,
                         f"Kubeflow Pipelines at {conn.endpoint} sent an answer kfops cannot "
                         f"read while trying to {what}: {_first_line(exc.reason)}",
                         [Problem("malformed answer", url)],
                         "check that the endpoint is the KFP v2 API (KFP 2.x)", None)
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        reason, tls = _network_reason(exc, conn)
        return _unreachable(reason, what, url, conn, tls=tls)
    return None


def _network_reason(exc: Exception, conn: Connection) -> tuple[str, bool]:
    from urllib3 import exceptions as e

    while isinstance(exc, e.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, e.NameResolutionError):
        return f"cannot resolve host {urlsplit(conn.endpoint).hostname}", False
    if isinstance(exc, e.NewConnectionError):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(exc).lower():
            return "connection refused", False
        return f"cannot connect ({_first_line(str(cause or exc))})", False
    if isinstance(exc, e.ConnectTimeoutError):
        return f"no connection within {_seconds(conn.timeout)}s", False
    if isinstance(exc, e.ReadTimeoutError):
        return f"no answer within {_seconds(conn.timeout)}s", False
    if isinstance(exc, e.SSLError):
        return f"TLS failure: {_first_line(str(exc))}", True
    if isinstance(exc, e.ProtocolError):
        return "the connection was closed before an answer", False
    return f"{type(exc).__name__}: {_first_line(str(exc))}", False


def _unreachable(reason: str, what: str, url: str, conn: Connection, *, tls: bool) -> Unreachable:
    if tls:
        fix = ("set kubeflow.ca_cert to the CA bundle that signed the server certificate "
               "(or verify_ssl: false for a throwaway test cluster)")
    else:
        fix = ("check the endpoint (--endpoint, KF_PIPELINES_ENDPOINT or kubeflow.endpoint) and "
               "that this machine can reach it: VPN, firewall, or a port-forward such as "
               "`kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`")
    return _scrubbed(Unreachable, conn,
                     f"Kubeflow Pipelines at {conn.endpoint} is unreachable: {reason}",
                     [Problem(f"while trying to {what}", url)], fix, None)


def _http_error(exc: Any, what: str, url: str, conn: Connection) -> RemoteError:
    status: int = exc.status
    body = exc.body
    message = _kfp_message(body)
    detail = [Problem(message, url)] if message else [Problem(f"HTTP {status}", url)]
    ep = conn.endpoint
    if 300 <= status < 400:
        location = _header(exc, "Location") or "another page"
        return _scrubbed(RemoteError, conn,
                         f"Kubeflow Pipelines at {ep} redirected the request to {location} "
                         f"(HTTP {status}) instead of answering: most likely a login page",
                         [Problem(f"while trying to {what}", url)], _auth_fix(conn), status)
    if status == 401:
        return _scrubbed(RemoteError, conn,
                         f"Kubeflow Pipelines at {ep} rejected the credentials (HTTP 401) "
                         f"while trying to {what}", detail, _auth_fix(conn), status)
    if status == 403:
        where = (f"in namespace {conn.namespace!r}" if conn.namespace
                 else "(no namespace was given; multi-user Kubeflow needs one)")
        return _scrubbed(RemoteError, conn,
                         f"not allowed to {what} {where} (HTTP 403 from {ep})", detail,
                         "ask an owner of the namespace to add you (or the service account "
                         "behind the token) as a contributor, or use a namespace you may use",
                         status)
    if status == 404:
        error = _scrubbed(NotFound, conn,
                          f"Kubeflow Pipelines at {ep} could not {what}: not found (HTTP 404)",
                          detail,
                          "check that the endpoint is the KFP API base URL (often ending in "
                          "/pipeline) and that the id still exists", status)
        error.from_api = _is_api_error(body)
        return error
    summary = f": {message}" if message else ""
    fix = ("a server-side failure: retry; if it persists, read the KFP API server logs "
           "(kubectl logs -n kubeflow deploy/ml-pipeline)") if status >= 500 else \
        "the request was refused; the message above says why"
    return _scrubbed(RemoteError, conn,
                     f"Kubeflow Pipelines at {ep} failed to {what}: HTTP {status}{summary}",
                     [Problem(f"HTTP {status}", url)], fix, status)


def _auth_fix(conn: Connection) -> str:
    if conn.token or conn.cookie:
        kind = "bearer token" if conn.token else "session cookie"
        source = f" from {conn.auth_source}" if conn.auth_source else ""
        return (f"the {kind}{source} was refused or has expired: refresh it, or change "
                "kubeflow.auth in kfops.yaml")
    from .connection import DEFAULT_COOKIE_ENV, DEFAULT_TOKEN_ENV
    from ..workflow_secrets import KUBEFLOW_COOKIE, KUBEFLOW_TOKEN

    return (f"no credentials were sent: set {DEFAULT_TOKEN_ENV} (or {DEFAULT_COOKIE_ENV}), or configure "
            f"kubeflow.auth in kfops.yaml; in GitHub Actions, create the repository secret {KUBEFLOW_TOKEN} "
            f"(or {KUBEFLOW_COOKIE}), which the workflow passes to the action")


def _scrubbed(cls: type[RemoteError], conn: Connection, what: str, problems: list[Problem],
              fix: str, status: int | None) -> Any:
    """Build the error with every secret value replaced, whatever the server echoed back."""
    clean = _scrubber(conn.secrets())
    return cls(clean(what), [Problem(clean(p.message), p.where and clean(p.where))
                             for p in problems], clean(fix), status=status)


def _scrubber(secrets: list[str]) -> Callable[[str], str]:
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)

    def clean(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, "***")
        return text

    return clean


def _kfp_message(body: Any) -> str | None:
    """The error message of a v2beta1 googleRpcStatus body (or of any JSON/text body)."""
    if body is None:
        return None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        parts = [data[k] for k in ("message", "error_message", "error", "title", "detail")
                 if isinstance(data.get(k), str) and data[k].strip()]
        parts += [v["message"] for v in data.get("validation") or []
                  if isinstance(v, dict) and isinstance(v.get("message"), str)]
        return _shorten("; ".join(dict.fromkeys(parts))) if parts else None
    text = text.strip()
    if text.startswith("<"):
        return "the answer was an HTML page, not the KFP API"
    return _shorten(text) if text else None


def _is_api_error(body: Any) -> bool:
    """True for KFP's own JSON error (e.g. 'pipeline not found'), False for a router's 404."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return False
    return isinstance(data, dict) and ("code" in data or "message" in data)


def _header(exc: Any, name: str) -> str | None:
    headers = getattr(exc, "headers", None)
    return headers.get(name) if headers is not None else None


def _seconds(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value}"


def _first_line(text: Any) -> str:
    return _shorten(str(text).strip().splitlines()[0] if str(text).strip() else "")


def _last_line(text: Any) -> str:
    lines = str(text).strip().splitlines()
    return _shorten(lines[-1] if lines else "")


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 1] + "…"
