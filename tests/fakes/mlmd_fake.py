"""An in-process grpc-web MLMD fake, built from the same wire messages (kfops_action/metrics/
mlmd_min.proto, field numbers from MLMD's own .proto) and seeded like the real store
(mlmd_seed.py), for the tests that must run everywhere and for the failures a real store cannot
be made to produce (login pages, trailers-only errors, broken frames).

It reproduces what the real core does that matters to a client (checked against the real store in
test_metrics_mlmd.py): an unknown context name is OK with no context; max_result_size 0 is
INVALID_ARGUMENT, above 100 returns 101 items and no token; the output-only `type` is filled
(unless `fill_types` is off, like an older server).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

from kfops_action.metrics import mlmd_min_pb2 as pb
from kfops_action.metrics.mlmd_grpcweb import frame, parse_frames

from .mlmd_seed import CONTAINER, DAG, METRICS, MODEL, PIPELINE_CONTEXT, RUN_CONTEXT, SESSION, records

PREFIX = "/ml_metadata.MetadataStoreService/"


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Store:
    contexts: dict[int, Any] = field(default_factory=dict)
    executions: dict[int, Any] = field(default_factory=dict)
    artifacts: dict[int, Any] = field(default_factory=dict)
    events: list[Any] = field(default_factory=list)
    attributions: dict[int, set[int]] = field(default_factory=dict)   # context -> artifacts
    associations: dict[int, set[int]] = field(default_factory=dict)   # context -> executions
    types: dict[str, int] = field(default_factory=dict)
    fill_types: bool = True

    def type_id(self, name: str) -> int:
        return self.types.setdefault(name, len(self.types) + 1)

    def seed(self, seed: dict[str, Any]) -> None:
        run_contexts: dict[str, int] = {}
        published: dict[tuple[str, str, str], int] = {}
        for item in records(seed):
            run_id = item["run_id"]
            if run_id not in run_contexts:
                ctx = pb.Context(id=len(self.contexts) + 1, name=run_id,
                                 type_id=self.type_id(RUN_CONTEXT), type=RUN_CONTEXT)
                ctx.custom_properties["store_session_info"].string_value = SESSION
                self.contexts[ctx.id] = ctx
                run_contexts[run_id] = ctx.id
            ctx_id = run_contexts[run_id]
            execution = pb.Execution(id=len(self.executions) + 1,
                                     type_id=self.type_id(item["exec_type"]), type=item["exec_type"],
                                     last_known_state=3)
            for key, text in (("display_name", item["task"]), ("task_name", item["task"]),
                              ("pod_name", f"{item['task']}-pod")):
                execution.custom_properties[key].string_value = text
            self.executions[execution.id] = execution
            self.associations.setdefault(ctx_id, set()).add(execution.id)
            for output, type_name, values, uri in item["outputs"]:
                artifact = pb.Artifact(id=len(self.artifacts) + 1, type_id=self.type_id(type_name),
                                       type=type_name, uri=uri, state=2)
                artifact.custom_properties["display_name"].string_value = output
                artifact.custom_properties["store_session_info"].string_value = SESSION
                for k, v in values.items():
                    if isinstance(v, str):
                        artifact.custom_properties[k].string_value = v
                    else:
                        artifact.custom_properties[k].double_value = float(v)
                self.artifacts[artifact.id] = artifact
                self.attributions.setdefault(ctx_id, set()).add(artifact.id)
                self._event(artifact.id, execution.id, output)
                published.setdefault((run_id, item["task"], output), artifact.id)
            if "reuse" in item:
                task, output = item["reuse"]
                self._event(published[(run_id, task, output)], execution.id, "Output")
        for name in (PIPELINE_CONTEXT, CONTAINER, DAG, METRICS, MODEL):
            self.type_id(name)

    def _event(self, artifact_id: int, execution_id: int, key: str) -> None:
        event = pb.Event(artifact_id=artifact_id, execution_id=execution_id, type=pb.Event.OUTPUT)
        event.path.steps.add().key = key
        self.events.append(event)

    # -- RPCs ------------------------------------------------------------------------------

    def GetContextByTypeAndName(self, req: Any) -> Any:
        for ctx in self.contexts.values():
            if ctx.type == req.type_name and ctx.name == req.context_name:
                return pb.GetContextByTypeAndNameResponse(context=ctx)
        return pb.GetContextByTypeAndNameResponse()

    def _page(self, items: list[Any], req: Any) -> tuple[list[Any], str]:
        if not req.HasField("options"):
            return items, ""
        size = req.options.max_result_size
        if size <= 0:
            raise RpcError(3, "max_result_size field value is required to be greater than 0 and "
                              f"less than or equal to 100. Set value:{size}")
        if size > 100:
            return items[:101], ""  # MLMD's own silent truncation
        start = int(req.options.next_page_token or 0)
        end = start + size
        return items[start:end], (str(end) if end < len(items) else "")

    def GetExecutionsByContext(self, req: Any) -> Any:
        ids = sorted(self.associations.get(req.context_id, set()))
        page, token = self._page([self._typed(self.executions[i]) for i in ids], req)
        return pb.GetExecutionsByContextResponse(executions=page, next_page_token=token or None)

    def GetArtifactsByContext(self, req: Any) -> Any:
        ids = sorted(self.attributions.get(req.context_id, set()))
        page, token = self._page([self._typed(self.artifacts[i]) for i in ids], req)
        return pb.GetArtifactsByContextResponse(artifacts=page, next_page_token=token or None)

    def GetEventsByExecutionIDs(self, req: Any) -> Any:
        wanted = set(req.execution_ids)
        return pb.GetEventsByExecutionIDsResponse(
            events=[e for e in self.events if e.execution_id in wanted])

    def GetArtifactTypes(self, req: Any) -> Any:
        names = {v: k for k, v in self.types.items()}
        return pb.GetArtifactTypesResponse(artifact_types=[pb.ArtifactType(id=i, name=names[i])
                                                           for i in sorted(names)])

    def GetArtifactsByID(self, req: Any) -> Any:
        found = [self._typed(self.artifacts[i]) for i in req.artifact_ids if i in self.artifacts]
        reply = pb.GetArtifactsByIDResponse(artifacts=found)
        if req.populate_artifact_types:
            names = {v: k for k, v in self.types.items()}
            for type_id in sorted({a.type_id for a in found}):
                reply.artifact_types.add(id=type_id, name=names.get(type_id, ""))
        return reply

    def _typed(self, message: Any) -> Any:
        if self.fill_types:
            return message
        copy = type(message)()
        copy.CopyFrom(message)
        copy.ClearField("type")
        return copy


REQUESTS = {name: getattr(pb, name + "Request") for name in (
    "GetContextByTypeAndName", "GetExecutionsByContext", "GetArtifactsByContext",
    "GetEventsByExecutionIDs", "GetArtifactTypes", "GetArtifactsByID")}


class FakeMlmd:
    """`with FakeMlmd(seed) as fake: fake.url`. Knobs (attributes, change any time):
    token (required bearer token or oauth2_proxy_kubeflow cookie; 401 otherwise), trailers
    ("body" or "headers": where an error's grpc-status goes), answer (None, or a callable
    (handler) -> bool that answers the request itself), fail ({method: (code, message)})."""

    def __init__(self, seed: dict[str, Any] | None = None, *, token: str | None = None,
                 fill_types: bool = True) -> None:
        self.store = Store(fill_types=fill_types)
        if seed:
            self.store.seed(seed)
        self.token = token
        self.trailers = "body"
        self.answer: Callable[[BaseHTTPRequestHandler], bool] | None = None
        self.fail: dict[str, tuple[int, str]] = {}
        self.calls: list[str] = []
        self.headers_seen: list[dict[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeMlmd:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        self.headers_seen.append(dict(h.headers))
        if self.answer is not None and self.answer(h):
            return
        if not h.path.startswith(PREFIX):
            return _plain(h, 404, b"404 page not found")
        if self.token:
            auth, cookie = h.headers.get("Authorization", ""), h.headers.get("Cookie", "")
            if auth != f"Bearer {self.token}" and f"oauth2_proxy_kubeflow={self.token}" not in cookie:
                return _plain(h, 401, b"Unauthorized")
        method = h.path[len(PREFIX):]
        self.calls.append(method)
        if h.headers.get("Content-Type") != "application/grpc-web+proto":
            return _plain(h, 415, b"unsupported content type")
        try:
            if method in self.fail:
                raise RpcError(*self.fail[method])
            if method not in REQUESTS:
                raise RpcError(12, f"unknown method {method}")
            messages, _ = parse_frames(body)
            request = REQUESTS[method]()
            request.ParseFromString(messages[0] if messages else b"")
            reply = getattr(self.store, method)(request)
        except RpcError as exc:
            return self._error(h, exc.code, exc.message)
        payload = frame(reply.SerializeToString()) + frame(b"grpc-status: 0\r\ngrpc-message: \r\n",
                                                           trailer=True)
        self._send(h, payload, {})

    def _error(self, h: BaseHTTPRequestHandler, code: int, message: str) -> None:
        if self.trailers == "headers":
            self._send(h, b"", {"grpc-status": str(code), "grpc-message": quote(message)})
        else:
            trailer = f"grpc-status: {code}\r\ngrpc-message: {quote(message)}\r\n".encode()
            self._send(h, frame(trailer, trailer=True), {})

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, payload: bytes, headers: dict[str, str]) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/grpc-web+proto")
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)


def _plain(h: BaseHTTPRequestHandler, status: int, body: bytes,
           ctype: str = "text/plain") -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)
