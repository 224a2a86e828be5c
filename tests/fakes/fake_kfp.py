"""A stateful fake of the Kubeflow Pipelines v2beta1 REST API, held to KFP's own contract.

It serves on 127.0.0.1 (a free port) from a background thread, so the code under test talks real
HTTP through the real generated client. Every JSON body it receives or sends is checked, field by
field, against the `kfp_server_api` models generated from KFP's API description: unknown
fields, wrong types and invalid enum values land in `contract_errors` (and a bad request gets a
400, as a real server would answer). Tests assert `contract_errors == []`; see tests/conftest.py.

Only what kfops uses is implemented; an unknown route gets Go's plain-text "404 page not found",
as the real API server answers.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

API = "/apis/v2beta1"
MULTIPART = "multipart/form-data"
EPOCH = "1970-01-01T00:00:00Z"
PACKAGE_SUFFIXES = (".yaml", ".yml", ".zip", ".tar.gz", ".tgz")
TERMINAL = {"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"}

# google.rpc.Code for the HTTP statuses the fake answers with.
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 501: 12, 503: 14,
              504: 4}


# -- contract checking ------------------------------------------------------------------------


def check_model(data: Any, model: str, where: str = "$") -> list[str]:
    """Every way `data` (parsed JSON) deviates from kfp_server_api model `model`.

    Stricter than the generated deserializer, which silently drops unknown fields, coerces
    types and accepts any enum string: each of those is a contract bug in a fake or a client.
    """
    import kfp_server_api

    klass = getattr(kfp_server_api.models, model)
    allowed = getattr(klass, "allowable_values", None)
    if allowed is not None:  # an enum
        if not isinstance(data, str) or data not in allowed:
            return [f"{where}: {data!r} is not a valid {model} (one of {', '.join(allowed)})"]
        return []
    if not klass.openapi_types:  # a free-form object
        return [] if isinstance(data, dict) else [f"{where}: expected an object for {model}"]
    if not isinstance(data, dict):
        return [f"{where}: expected an object ({model}), got {type(data).__name__}"]
    json_to_attr = {v: k for k, v in klass.attribute_map.items()}
    errors = [f"{where}.{key}: unknown field for {model}" for key in data
              if key not in json_to_attr]
    for key, value in data.items():
        if key in json_to_attr:
            errors += check_type(value, klass.openapi_types[json_to_attr[key]], f"{where}.{key}")
    if not errors:
        errors += _deserializes(data, model, where)
    return errors


def check_type(value: Any, typ: str, where: str) -> list[str]:
    """Check one value against an openapi-generator type string ('str', 'list[X]', ...)."""
    if value is None:
        return [f"{where}: null (KFP omits unset fields instead)"]
    simple = {"str": str, "bool": bool, "object": object}
    if typ in simple:
        ok = isinstance(value, simple[typ])
        return [] if ok else [f"{where}: expected {typ}, got {type(value).__name__}"]
    if typ in ("int", "float"):
        ok = isinstance(value, (int, float) if typ == "float" else int) \
            and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected {typ}, got {type(value).__name__}"]
    if typ in ("datetime", "date"):
        return _check_datetime(value, where)
    if typ.startswith("list["):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        inner = typ[5:-1]
        return [e for i, v in enumerate(value) for e in check_type(v, inner, f"{where}[{i}]")]
    if typ.startswith("dict("):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        inner = re.match(r"dict\(([^,]*), (.*)\)", typ).group(2)  # type: ignore[union-attr]
        return [e for k, v in value.items() for e in check_type(v, inner, f"{where}.{k}")]
    return check_model(value, typ, where)


def _check_datetime(value: Any, where: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{where}: expected an RFC 3339 date-time string, got {type(value).__name__}"]
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return [f"{where}: {value!r} is not an RFC 3339 date-time"]
    return []


def _deserializes(data: dict[str, Any], model: str, where: str) -> list[str]:
    """Also run the generated client's own deserializer (with client-side validation on)."""
    class _Response:
        def __init__(self, payload: dict[str, Any]) -> None:
            self.data = json.dumps(payload)

    try:
        _api_client().deserialize(_Response(data), model)
    except Exception as exc:  # noqa: BLE001 - any failure is a contract violation
        return [f"{where}: kfp_server_api cannot deserialize it as {model}: {exc}"]
    return []


_CLIENT: Any = None


def _api_client() -> Any:
    """One generated client for deserializing, with client-side validation on."""
    global _CLIENT
    if _CLIENT is None:
        import kfp_server_api

        config = kfp_server_api.Configuration()
        config.client_side_validation = True
        _CLIENT = kfp_server_api.ApiClient(config)
    return _CLIENT


# -- recorded traffic and routes ----------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as received. Authorization and Cookie values are replaced by '<redacted>'."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None
    at: float = field(default_factory=time.monotonic)  # when it arrived (benchmarks time the flow)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    action: str
    request_model: str | None  # a model name, MULTIPART, or None for no body
    response_model: str | None  # None: an empty object, as for :terminate
    query: tuple[str, ...] = ()


_LIST = ("page_token", "page_size", "sort_by", "filter")
ROUTES = [
    Route("GET", f"{API}/healthz", "healthz", None, "V2beta1GetHealthzResponse"),
    Route("GET", f"{API}/pipelines/names/(?P<name>[^/]+)", "get_pipeline_by_name", None,
          "V2beta1Pipeline", ("namespace",)),
    Route("GET", f"{API}/pipelines", "list_pipelines", None, "V2beta1ListPipelinesResponse",
          ("namespace",) + _LIST),
    Route("POST", f"{API}/pipelines", "create_pipeline", "V2beta1Pipeline", "V2beta1Pipeline"),
    Route("POST", f"{API}/pipelines/upload", "upload_pipeline", MULTIPART, "V2beta1Pipeline",
          ("name", "display_name", "description", "namespace", "tags", "code_source_url")),
    Route("POST", f"{API}/pipelines/upload_version", "upload_version", MULTIPART,
          "V2beta1PipelineVersion",
          ("name", "display_name", "pipelineid", "description", "tags", "code_source_url")),
    Route("GET", f"{API}/pipelines/(?P<pipeline_id>[^/]+)", "get_pipeline", None,
          "V2beta1Pipeline"),
    Route("GET", f"{API}/pipelines/(?P<pipeline_id>[^/]+)/versions", "list_versions", None,
          "V2beta1ListPipelineVersionsResponse", _LIST),
    Route("GET", f"{API}/pipelines/(?P<pipeline_id>[^/]+)/versions/(?P<version_id>[^/]+)",
          "get_version", None, "V2beta1PipelineVersion"),
    Route("GET", f"{API}/experiments", "list_experiments", None,
          "V2beta1ListExperimentsResponse", ("namespace",) + _LIST),
    Route("POST", f"{API}/experiments", "create_experiment", "V2beta1Experiment",
          "V2beta1Experiment"),
    Route("GET", f"{API}/experiments/(?P<experiment_id>[^/]+)", "get_experiment", None,
          "V2beta1Experiment"),
    Route("GET", f"{API}/runs", "list_runs", None, "V2beta1ListRunsResponse",
          ("namespace", "experiment_id") + _LIST),
    Route("POST", f"{API}/runs", "create_run", "V2beta1Run", "V2beta1Run", ("experiment_id",)),
    Route("GET", f"{API}/runs/(?P<run_id>[^/:]+)", "get_run", None, "V2beta1Run",
          ("experiment_id",)),
    Route("POST", f"{API}/runs/(?P<run_id>[^/:]+):terminate", "terminate_run", None, None,
          ("experiment_id",)),
]


class ApiError(Exception):
    """Raised by an action to answer with a googleRpcStatus error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Run:
    body: dict[str, Any]
    script: list[str]
    failure: tuple[str, str] | None
    tasks: list[str]
    step: int = 0
    created_at: str = field(default_factory=lambda: _now())
    finished_at: str | None = None
    outputs: dict[str, dict[str, list[str]]] | None = None  # this run's, instead of task_outputs

    @property
    def state(self) -> str:
        return self.script[min(self.step, len(self.script) - 1)]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the fake -----------------------------------------------------------------------------------


class FakeKfp:
    """The fake server. Use as a context manager, or call start()/stop().

    Knobs for tests:
      run_states        the states successive GETs of a new run report (the last one sticks)
      tasks             task display names reported for each run
      task_outputs      {task: {output: [artifact ids]}} listed once the task succeeded
      fail_task(n, m)   make task n fail with message m (the run ends FAILED)
      deny(status)      answer every next request (or the next `times`) with that status
      redirect_to_login()  answer 302 to an HTML login page, as an auth proxy does
      tamper(fn, action)  pass the next JSON answer (of that route) through fn
      legacy_routes     answer the by-name pipeline route with a plain 404 (a KFP without it)
      add_pipeline(), add_experiment(), add_run()  seed objects made by someone else
    """

    def __init__(self, *, token: str | None = None, cookie: str | None = None,
                 multi_user: bool = False) -> None:
        self.token = token
        self.cookie = cookie
        self.multi_user = multi_user
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    def reset(self) -> None:
        """Forget all objects, recorded traffic and knobs (one server can serve many tests)."""
        with self._lock:
            self._reset()

    def _reset(self) -> None:
        self.run_states: list[str] = ["PENDING", "RUNNING", "SUCCEEDED"]
        self.tasks: list[str] = ["train"]
        self.task_outputs: dict[str, dict[str, list[str]]] = {}  # task -> output -> artifact ids
        self.legacy_routes = False
        self.requests: list[RecordedRequest] = []
        self.contract_errors: list[str] = []
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, Any]] = {}
        self.packages: dict[str, bytes] = {}
        self.experiments: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, _Run] = {}
        self._failure: tuple[str, str] | None = None
        self._deny: tuple[int, str, int | None] | None = None
        self._login_redirect = False
        self._tamper: tuple[Callable[[Any], Any], str | None] | None = None
        self._ids = itertools.count(1)

    # lifecycle

    def start(self) -> FakeKfp:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,),
                                        name="fake-kfp", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeKfp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeKfp is not started"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    # knobs

    def fail_task(self, name: str, message: str) -> None:
        if name not in self.tasks:
            self.tasks.append(name)
        self._failure = (name, message)
        if self.run_states and self.run_states[-1] == "SUCCEEDED":
            self.run_states = self.run_states[:-1] + ["FAILED"]

    def deny(self, status: int, message: str | None = None, times: int | None = None) -> None:
        self._deny = (status, message or f"denied by the fake (HTTP {status})", times)

    def allow(self) -> None:
        self._deny = None
        self._login_redirect = False

    def redirect_to_login(self) -> None:
        self._login_redirect = True

    def tamper(self, fn: Callable[[Any], Any], action: str | None = None) -> None:
        """Rewrite the next successful JSON answer (of route `action`, e.g. "list_versions")."""
        self._tamper = (fn, action)

    def add_pipeline(self, name: str, *, namespace: str | None = None,
                     versions: tuple[str, ...] = ()) -> dict[str, Any]:
        """Seed a pipeline (and versions) as if someone else had uploaded them."""
        with self._lock:
            pipeline = self._add_pipeline(name, None, None, namespace)
            for version in versions:
                self._add_version(pipeline["pipeline_id"], version, None, None, {}, b"")
            return pipeline

    def add_experiment(self, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        with self._lock:
            return self._add_experiment(name, namespace)

    def add_run(self, display_name: str, *, pipeline: str, version: str, experiment: str = "Default",
                namespace: str | None = None, states: tuple[str, ...] = ("SUCCEEDED",),
                outputs: dict[str, dict[str, list[str]]] | None = None,
                run_id: str | None = None) -> str:
        """Seed a run started earlier (by kfops for some pull request, or by hand) of version
        `version` of `pipeline` in `experiment`, each created when missing; `outputs` are this
        run's task outputs ({task: {output: [artifact ids]}}). Returns the run id."""
        with self._lock:
            found = [p for p in self.pipelines.values() if p["name"] == pipeline]
            owner = found[0] if found else self._add_pipeline(pipeline, None, None, namespace)
            versions = [v for v in self.versions_of(owner["pipeline_id"]) if v["name"] == version]
            stored = versions[0] if versions else self._add_version(owner["pipeline_id"], version, None,
                                                                    None, {}, b"")
            experiments = [e for e in self.experiments.values()
                           if e["display_name"] == experiment and e.get("namespace") == namespace]
            home = experiments[0] if experiments else self._add_experiment(experiment, namespace)
            run_id = run_id or self._new_id("run")
            body = {"display_name": display_name, "run_id": run_id, "experiment_id": home["experiment_id"],
                    "pipeline_version_reference": {"pipeline_id": owner["pipeline_id"],
                                                   "pipeline_version_id": stored["pipeline_version_id"]}}
            self.runs[run_id] = _Run(body, list(states), None, list(outputs or self.tasks), outputs=outputs)
            return run_id

    # queries for assertions

    def requests_to(self, method: str, path_suffix: str) -> list[RecordedRequest]:
        return [r for r in self.requests
                if r.method == method and r.path.endswith(path_suffix)]

    def versions_of(self, pipeline_id: str) -> list[dict[str, Any]]:
        return [v for v in self.versions.values() if v["pipeline_id"] == pipeline_id]

    # request handling (called from server threads)

    def handle(self, req: _Handler) -> None:
        with self._lock:
            self._handle(req)

    def _handle(self, req: _Handler) -> None:
        parts = urlsplit(req.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        raw = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        record = RecordedRequest(req.command, path, query, _safe_headers(req.headers))
        self.requests.append(record)
        if path == "/login":
            return req.send_text(200, "<html><body>Log in</body></html>", "text/html")
        if not self._authorized(req.headers):
            return self._error(req, 401, "Unauthenticated: missing or invalid credentials")
        if self._login_redirect:
            return req.send_redirect("/login")
        if self._deny is not None:
            return self._denied(req)
        route, params = self._route(req.command, path)
        if route is None:
            return req.send_text(404, "404 page not found\n", "text/plain")
        try:
            body = self._parse_body(route, req.headers, raw, record)
            self._check_query(route, query)
            result = getattr(self, "_" + route.action)(params, query, body)
        except ApiError as exc:
            return self._error(req, exc.status, exc.message)
        self._respond(req, route, result)

    def _authorized(self, headers: Any) -> bool:
        if self.token is None and self.cookie is None:
            return True
        bearer = headers.get("Authorization") or ""
        if self.token is not None and bearer == f"Bearer {self.token}":
            return True
        cookies = [c.strip() for c in (headers.get("Cookie") or "").split(";")]
        return self.cookie is not None and self.cookie in cookies + [headers.get("Cookie")]

    def _denied(self, req: _Handler) -> None:
        assert self._deny is not None
        status, message, times = self._deny
        if times is not None:
            self._deny = (status, message, times - 1) if times > 1 else None
        self._error(req, status, message)

    def _route(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in ROUTES:
            match = re.fullmatch(route.pattern, path)
            if match and route.method == method:
                if route.action == "get_pipeline_by_name" and self.legacy_routes:
                    return None, {}
                return route, {k: unquote(v) for k, v in match.groupdict().items()}
        return None, {}

    def _parse_body(self, route: Route, headers: Any, raw: bytes,
                    record: RecordedRequest) -> Any:
        ctype = headers.get("Content-Type") or ""
        if route.request_model == MULTIPART:
            if not ctype.startswith(MULTIPART):
                self._violation(f"{route.action}: Content-Type {ctype!r}, expected {MULTIPART}")
                raise ApiError(400, "expected a multipart/form-data upload")
            record.body = _parse_multipart(ctype, raw)
            return record.body
        if route.request_model is None:
            if raw.strip():
                self._violation(f"{route.action}: unexpected request body {raw[:200]!r}")
                raise ApiError(400, "this method takes no body")
            return None
        try:
            record.body = json.loads(raw or b"null")
        except ValueError:
            self._violation(f"{route.action}: request body is not JSON: {raw[:200]!r}")
            raise ApiError(400, "invalid JSON body") from None
        errors = check_model(record.body, route.request_model, f"request({route.action})")
        if errors:
            self.contract_errors.extend(errors)
            raise ApiError(400, "invalid request: " + "; ".join(errors))
        return record.body

    def _check_query(self, route: Route, query: dict[str, str]) -> None:
        errors = [f"query({route.action}): unknown parameter {k!r}" for k in query
                  if k not in route.query]
        if "filter" in query:
            try:
                errors += check_model(json.loads(query["filter"]), "V2beta1Filter",
                                      f"query({route.action}).filter")
            except ValueError:
                errors.append(f"query({route.action}).filter: not JSON")
        if "page_size" in query and not query["page_size"].isdigit():
            errors.append(f"query({route.action}).page_size: not an int32")
        if errors:
            self.contract_errors.extend(errors)
            raise ApiError(400, "invalid request: " + "; ".join(errors))

    def _respond(self, req: _Handler, route: Route, result: Any) -> None:
        if self._tamper is not None and self._tamper[1] in (None, route.action):
            result, self._tamper = self._tamper[0](copy.deepcopy(result)), None
        if route.response_model is None:
            if result != {}:
                self._violation(f"response({route.action}): expected an empty object")
        else:
            self.contract_errors.extend(
                check_model(result, route.response_model, f"response({route.action})"))
        req.send_json(200, result)

    def _error(self, req: _Handler, status: int, message: str) -> None:
        body = {"code": GRPC_CODES.get(status, 2), "message": message, "details": []}
        self.contract_errors.extend(check_model(body, "GoogleRpcStatus", "response(error)"))
        req.send_json(status, body)

    def _violation(self, message: str) -> None:
        self.contract_errors.append(message)

    def _new_id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}-{uuid.uuid4().hex[:8]}"

    # actions: each returns the JSON to send, or raises ApiError

    def _healthz(self, params: dict, query: dict, body: Any) -> dict[str, Any]:
        return {"multi_user": self.multi_user, "pipeline_store": "database"}

    def _get_pipeline_by_name(self, params: dict, query: dict, body: Any) -> dict[str, Any]:
        namespace = query.get("namespace", "")
        for pipeline in self.pipelines.values():
            if pipeline["name"] == params["name"] and pipeline.get("namespace", "") == namespace:
                return pipeline
        raise ApiError(404, f"Pipeline with name {params['name']!r} not found in namespace "
                            f"{namespace!r}: ResourceNotFoundError")

    def _list_pipelines(self, params: dict, query: dict, body: Any) -> dict[str, Any]:
        items = [p for p in self.pipelines.values()
                 if p.get("namespace", "") == query.get("namespace", "")]
        return _page(_filtered(items, query, {"name", "display_name"}), query, "pipelines")

    def _get_pipeline(self, params: dict, query: dict, body: Any) -> dict[str, Any]:
        return self._pipeline(params["pipeline_id"])

    def _pipeline(self, pipeline_id: str) -> dict[str, Any]:
        if pipeline_id not in self.pipelines:
            raise ApiError(404, f"Pipeline {pipeline_id} not found")
        return self.pipelines[pipeline_id]

    def _create_pipeline(self, params: dict, query: dict, body: dict) -> dict[str, Any]:
        return self._add_pipeline(body.get("name") or "", body.get("display_name"),
                                  body.get("description"), body.get("namespace"))

    def _add_pipeline(self, name: str, display_name: str | None, description: str | None,
                      namespace: str | None) -> dict[str, Any]:
        if not name:
            raise ApiError(400, "Invalid input error: pipeline name is required")
        if any(p["name"] == name and p.get("namespace", "") == (namespace or "")
               for p in self.pipelines.values()):
            raise ApiError(409, f"Already exist error: pipeline {name!r} already exists")
        pipeline = {"pipeline_id": self._new_id("pipeline"), "name": name,
                    "display_name": display_name or name, "created_at": _now()}
        if description:
            pipeline["description"] = description
        if namespace:
            pipeline["namespace"] = namespace
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        return pipeline

    def _upload_pipeline(self, params: dict, query: dict, body: dict) -> dict[str, Any]:
        filename, data = self._uploaded_file(body)
        spec = _pipeline_spec(filename, data)
        name = query.get("name") or filename.split(".")[0]
        pipeline = self._add_pipeline(name, query.get("display_name"), query.get("description"),
                                      query.get("namespace"))
        # As KFP does: the upload also creates a first version named after the pipeline.
        self._add_version(pipeline["pipeline_id"], name, None, None, spec, data)
        return pipeline

    def _upload_version(self, params: dict, query: dict, body: dict) -> dict[str, Any]:
        filename, data = self._uploaded_file(body)
        spec = _pipeline_spec(filename, data)
        pipeline_id = query.get("pipelineid")
        if not pipeline_id:
            raise ApiError(400, "Invalid input error: pipelineid is required")
        self._pipeline(pipeline_id)
        return self._add_version(pipeline_id, query.get("name") or filename,
                                 query.get("display_name"), query.get("description"), spec,
                                 data)

    def _uploaded_file(self, body: dict[str, Any]) -> tuple[str, bytes]:
        if "uploadfile" not in body or not body["uploadfile"][0]:
            self._violation("request(upload): the required form file 'uploadfile' is missing")
            raise ApiError(400, "Failed to read pipeline from file: http: no such file")
        return body["uploadfile"]

    def _add_version(self, pipeline_id: str, name: str, display_name: str | None,
                     description: str | None, spec: dict[str, Any],
                     data: bytes) -> dict[str, Any]:
        if any(v["name"] == name for v in self.versions_of(pipeline_id)):
            raise ApiError(409, f"Already exist error: version {name!r} already exists")
        version_id = self._new_id("version")
        version: dict[str, Any] = {
            "pipeline_id": pipeline_id, "pipeline_version_id": version_id, "name": name,
            "display_name": display_name or name, "created_at": _now(), "pipeline_spec": spec}
        if description:
            version["description"] = description
        self.versions[version_id] = version
        self.packages[version_id] = data
        return version

    def _list_versions(self, params: dict, query: dict, body: Any) -> dict[str, Any]:
        self._pipeline(params["pipeline_id"])
        items = self.versions_of(params["pipeline_id"])
        return _page(_filtered(items, query, {"name", "display_name"}), query,
                     "pipeline_versions")

    def _get_version(self, params: dict, query: dict, body: Any) -> dict[str, Any]:
        version = self.versions.get(params["version_id"])
        if version is None or version["pipeline_id"] != params["pipeline_id"]:
            raise ApiError(404, f"Pipeline version {params['version_id']} not found")
        return version

    def _list_experiments(self, params: dict, query: dict, body: Any) -> dict[str, Any]:
        items = [e for e in self.experiments.values()
                 if not query.get("namespace") or e.get("namespace") == query["namespace"]]
        return _page(_filtered(items, query, {"name", "display_name"}), query, "experiments")

    def _create_experiment(self, params: dict, query: dict, body: dict) -> dict[str, Any]:
        name = body.get("display_name")
        if not name:
            raise ApiError(400, "Invalid input error: experiment name is required")
        return self._add_experiment(name, body.get("namespace"), body.get("description"))

    def _add_experiment(self, name: str, namespace: str | None,
                        description: str | None = None) -> dict[str, Any]:
        if any(e["display_name"] == name and e.get("namespace") == namespace
               for e in self.experiments.values()):
            raise ApiError(409, f"Already exist error: experiment {name!r} already exists")
        experiment = {"experiment_id": self._new_id("experiment"), "display_name": name,
                      "created_at": _now(), "storage_state": "AVAILABLE",
                      "last_run_created_at": EPOCH}
        if namespace:
            experiment["namespace"] = namespace
        if description:
            experiment["description"] = description
        self.experiments[experiment["experiment_id"]] = experiment
        return experiment

    def _get_experiment(self, params: dict, query: dict, body: Any) -> dict[str, Any]:
        experiment = self.experiments.get(params["experiment_id"])
        if experiment is None:
            raise ApiError(404, f"Experiment {params['experiment_id']} not found")
        return experiment

    def _create_run(self, params: dict, query: dict, body: dict) -> dict[str, Any]:
        if not body.get("display_name"):
            raise ApiError(400, "Invalid input error: run display_name is required")
        experiment_id = body.get("experiment_id") or self._default_experiment()
        if experiment_id not in self.experiments:
            raise ApiError(404, f"Experiment {experiment_id} not found")
        self._check_run_source(body)
        run_id = self._new_id("run")
        stored = dict(body, run_id=run_id, experiment_id=experiment_id)
        self.runs[run_id] = _Run(stored, list(self.run_states) or ["PENDING"], self._failure,
                                 list(self.tasks))
        self.experiments[experiment_id]["last_run_created_at"] = self.runs[run_id].created_at
        return self._run_json(self.runs[run_id])

    def _default_experiment(self) -> str:
        for experiment in self.experiments.values():
            if experiment["display_name"] == "Default":
                return str(experiment["experiment_id"])
        return str(self._add_experiment("Default", None)["experiment_id"])

    def _check_run_source(self, body: dict[str, Any]) -> None:
        ref = body.get("pipeline_version_reference")
        if ref:
            self._pipeline(ref.get("pipeline_id", ""))
            version_id = ref.get("pipeline_version_id")
            if version_id and self.versions.get(version_id, {}).get("pipeline_id") != \
                    ref["pipeline_id"]:
                raise ApiError(404, f"Pipeline version {version_id} not found")
        elif not body.get("pipeline_spec"):
            raise ApiError(400, "Invalid input error: a run needs a pipeline version reference "
                                "or a pipeline spec")

    def _list_runs(self, params: dict, query: dict, body: Any) -> dict[str, Any]:
        items = [self._run_json(r) for r in self.runs.values()
                 if not query.get("experiment_id")
                 or r.body["experiment_id"] == query["experiment_id"]]
        return _page(_filtered(items, query, {"display_name", "name"}), query, "runs")

    def _get_run(self, params: dict, query: dict, body: Any) -> dict[str, Any]:
        run = self._run(params["run_id"])
        result = self._run_json(run)
        run.step += 1  # the next GET reports the next scripted state
        return result

    def _run(self, run_id: str) -> _Run:
        if run_id not in self.runs:
            raise ApiError(404, f"Run {run_id} not found: ResourceNotFoundError")
        return self.runs[run_id]

    def _terminate_run(self, params: dict, query: dict, body: Any) -> dict[str, Any]:
        run = self._run(params["run_id"])
        if run.state not in TERMINAL:
            run.script, run.step = ["CANCELING", "CANCELED"], 0
        return {}

    def _run_json(self, run: _Run) -> dict[str, Any]:
        state = run.state
        if state in TERMINAL and run.finished_at is None:
            run.finished_at = _now()
        result = dict(run.body, created_at=run.created_at, scheduled_at=run.created_at,
                      finished_at=run.finished_at or EPOCH, state=state,
                      storage_state="AVAILABLE",
                      state_history=[{"update_time": run.created_at, "state": s}
                                     for s in run.script[:min(run.step, len(run.script) - 1) + 1]],
                      run_details={"task_details": self._task_details(run)})
        result.setdefault("service_account", "pipeline-runner")
        if state == "FAILED":
            name, message = run.failure or (run.tasks[-1], "task failed")
            result["error"] = {"code": 2, "message": f"task {name!r} failed: {message}",
                               "details": []}
        return result

    def _task_details(self, run: _Run) -> list[dict[str, Any]]:
        states = _task_states(run)
        details = []
        for index, (name, (state, error)) in enumerate(states.items()):
            task = {"run_id": run.body["run_id"], "task_id": f"{run.body['run_id']}-t{index}",
                    "display_name": name, "create_time": run.created_at,
                    "start_time": run.created_at, "state": state}
            if state in TERMINAL:
                task["end_time"] = run.finished_at or _now()
            if error:
                task["error"] = {"code": 2, "message": error, "details": []}
            outputs = run.outputs if run.outputs is not None else self.task_outputs
            if state == "SUCCEEDED" and name in outputs:
                task["outputs"] = {out: {"artifact_ids": list(ids)} for out, ids in outputs[name].items()}
            details.append(task)
        return details


def _task_states(run: _Run) -> dict[str, tuple[str, str | None]]:
    """Task states implied by the run state: simple and deterministic, enough for reports."""
    state = run.state
    if state in ("PENDING", "RUNTIME_STATE_UNSPECIFIED"):
        return {}
    if state == "FAILED":
        failing, message = run.failure or (run.tasks[-1], "task failed")
        out: dict[str, tuple[str, str | None]] = {}
        for name in run.tasks:
            if name == failing:
                out[name] = ("FAILED", message)
                break
            out[name] = ("SUCCEEDED", None)
        return out
    per_task = {"RUNNING": "RUNNING", "PAUSED": "RUNNING", "CANCELING": "RUNNING",
                "SUCCEEDED": "SUCCEEDED", "SKIPPED": "SKIPPED", "CANCELED": "CANCELED"}
    return {name: (per_task.get(state, "RUNNING"), None) for name in run.tasks}


def _filtered(items: list[dict[str, Any]], query: dict[str, str],
              keys: set[str]) -> list[dict[str, Any]]:
    """Apply a v2beta1 filter; the fake knows EQUALS on string fields only."""
    if "filter" not in query:
        return items
    for predicate in json.loads(query["filter"]).get("predicates", []):
        key, op = predicate.get("key"), predicate.get("operation")
        if key not in keys:
            raise ApiError(400, f"Invalid input error: filter key {key!r} is not supported")
        if op != "EQUALS" or "string_value" not in predicate:
            raise ApiError(400, f"the fake supports only EQUALS on strings, got {op!r}")
        items = [i for i in items if i.get(key) == predicate["string_value"]]
    return items


def _page(items: list[dict[str, Any]], query: dict[str, str], key: str) -> dict[str, Any]:
    start = int(query.get("page_token") or 0)
    size = int(query.get("page_size") or 20)
    chunk = items[start:start + size]
    result: dict[str, Any] = {"total_size": len(items)}
    if chunk:
        result[key] = chunk
    if start + size < len(items):
        result["next_page_token"] = str(start + size)
    return result


def _pipeline_spec(filename: str, data: bytes) -> dict[str, Any]:
    """What KFP stores as the version's pipeline_spec; it rejects other file names."""
    if not filename.endswith(PACKAGE_SUFFIXES):
        raise ApiError(400, "Invalid input error: unexpected pipeline file format; support "
                            ".zip, .tar.gz or YAML")
    if not filename.endswith((".yaml", ".yml")):
        return {}
    try:
        docs = [d for d in yaml.safe_load_all(data) if d is not None]
    except yaml.YAMLError as exc:
        raise ApiError(400, f"Invalid input error: invalid pipeline spec YAML: {exc}") from None
    if not docs or not isinstance(docs[0], dict):
        raise ApiError(400, "Invalid input error: empty or invalid pipeline spec")
    if len(docs) == 1:
        return docs[0]
    return {"pipeline_spec": docs[0], "platform_spec": docs[1]}


def _parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        parts[str(name)] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return parts


def _safe_headers(headers: Any) -> dict[str, str]:
    return {k: ("<redacted>" if k.lower() in ("authorization", "cookie") else v)
            for k, v in headers.items()}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.fake.handle(self)  # type: ignore[attr-defined]

    do_POST = do_PATCH = do_DELETE = do_GET  # noqa: N815

    def send_json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def send_text(self, status: int, text: str, ctype: str) -> None:
        self._send(status, text.encode(), ctype)

    def send_redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, payload: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass
