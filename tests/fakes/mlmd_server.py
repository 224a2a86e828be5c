"""A REAL ML Metadata store served over grpc-web on loopback, for the metrics tests.

Runs in its own venv (ml-metadata 1.17.1 pins protobuf<5 and sonora urllib3<2, both conflicting
with kfp 2.17; see .ci/install-metrics-infra.sh), never imported by pytest:

    .ci/mlmd-venv/bin/python tests/fakes/mlmd_server.py --db DIR/mlmd.sqlite --seed seed.json \
        [--token TOKEN]

The store is ml-metadata's own C++ core on SQLite. The wheel ships no `metadata_store_server`, so
each `/ml_metadata.MetadataStoreService/<Method>` call's raw request bytes are handed to the same
pybind entry point `MetadataStore` itself uses (`metadata_store_serialized.<Method>`): every reply
and every error code comes from MLMD, nothing is re-implemented. grpc-web is sonora's WSGI
implementation (an independent grpc-web server), in front of a small gateway that, like
Kubeflow's, requires the bearer token or the oauth2_proxy_kubeflow cookie (401 otherwise) and only
routes /ml_metadata.

Prints "READY <port>" on stdout once serving on 127.0.0.1; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mlmd_seed import CONTAINER, DAG, METRICS, MODEL, PIPELINE_CONTEXT, RUN_CONTEXT, SESSION, records  # noqa: E402

PREFIX = "/ml_metadata.MetadataStoreService/"


def open_store(db: Path) -> Any:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(db)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def seed_store(store: Any, seed: dict[str, Any]) -> None:
    """Publish the seed's runs the way KFP's launcher does (PutExecution with events and
    contexts), through MLMD's own Python API."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    def type_id(kind: str, name: str) -> int:
        if kind == "context":
            return store.put_context_type(pb.ContextType(name=name))
        if kind == "execution":
            return store.put_execution_type(pb.ExecutionType(name=name))
        return store.put_artifact_type(pb.ArtifactType(name=name))

    types = {name: type_id("context", name) for name in (RUN_CONTEXT, PIPELINE_CONTEXT)}
    types.update({name: type_id("execution", name) for name in (CONTAINER, DAG)})
    types.update({name: type_id("artifact", name) for name in (METRICS, MODEL)})
    contexts: dict[str, tuple[Any, Any]] = {}
    published: dict[tuple[str, str, str], int] = {}  # (run, task, output) -> artifact id

    def value(v: Any) -> Any:
        if isinstance(v, str):
            return pb.Value(string_value=v)
        return pb.Value(double_value=float(v))

    for item in records(seed):
        run_id = item["run_id"]
        if run_id not in contexts:
            pipeline = pb.Context(type_id=types[PIPELINE_CONTEXT], name=item["pipeline"])
            existing = store.get_context_by_type_and_name(PIPELINE_CONTEXT, item["pipeline"])
            pipeline_id = existing.id if existing else store.put_contexts([pipeline])[0]
            run = pb.Context(type_id=types[RUN_CONTEXT], name=run_id)
            run.custom_properties["namespace"].string_value = "kubeflow-user"
            run.custom_properties["pipeline_root"].string_value = "minio://mlpipeline/v2/artifacts"
            run.custom_properties["resource_name"].string_value = f"run-{run_id[:8]}"
            run.custom_properties["store_session_info"].string_value = SESSION
            run_ctx_id = store.put_contexts([run])[0]
            store.put_parent_contexts([pb.ParentContext(child_id=run_ctx_id, parent_id=pipeline_id)])
            contexts[run_id] = (store.get_contexts_by_id([pipeline_id])[0],
                                store.get_contexts_by_id([run_ctx_id])[0])
        pipeline_ctx, run_ctx = contexts[run_id]
        execution = pb.Execution(type_id=types[item["exec_type"]],
                                 last_known_state=pb.Execution.COMPLETE)
        for key, text in (("display_name", item["task"]), ("task_name", item["task"]),
                          ("pod_name", f"{item['task']}-{item['index']}-pod")):
            execution.custom_properties[key].string_value = text
        pairs = []
        for output, type_name, values, uri in item["outputs"]:
            artifact = pb.Artifact(type_id=types[type_name], uri=uri, state=pb.Artifact.LIVE)
            artifact.custom_properties["display_name"].string_value = output
            artifact.custom_properties["store_session_info"].string_value = SESSION
            for k, v in values.items():
                artifact.custom_properties[k].CopyFrom(value(v))
            event = pb.Event(type=pb.Event.OUTPUT)
            event.path.steps.add().key = output
            pairs.append((artifact, event))
        if "reuse" in item:  # a DAG re-publishing an artifact it did not produce
            task, output = item["reuse"]
            artifact = store.get_artifacts_by_id([published[(run_id, task, output)]])[0]
            event = pb.Event(type=pb.Event.OUTPUT)
            event.path.steps.add().key = "Output"
            pairs.append((artifact, event))
        _, artifact_ids, _ = store.put_execution(execution, pairs, [pipeline_ctx, run_ctx])
        for (output, *_), artifact_id in zip(item["outputs"], artifact_ids):
            published.setdefault((run_id, item["task"], output), artifact_id)


def rpc_handlers(store: Any) -> Any:
    """A grpc GenericRpcHandler passing raw bytes to MLMD's C++ core."""
    import grpc
    from ml_metadata.metadata_store.metadata_store import metadata_store_serialized as core

    class Handler(grpc.GenericRpcHandler):
        def service(self, details: Any) -> Any:
            if not details.method.startswith(PREFIX):
                return None
            fn = getattr(core, details.method[len(PREFIX):], None)
            if fn is None or details.method[len(PREFIX):].startswith("Create"):
                return None

            def call(request: bytes, context: Any) -> bytes:
                reply, error, code = fn(store._metadata_store, request)
                if code != 0:
                    context.abort(grpc.StatusCode(_status(code)), error.decode("utf-8", "replace"))
                return reply

            # Identity (de)serializers: the bytes go to and come from MLMD's core untouched.
            return grpc.unary_unary_rpc_method_handler(call, request_deserializer=_same,
                                                       response_serializer=_same)

    return Handler()


def _same(data: bytes) -> bytes:
    return data


def _status(code: int) -> tuple[int, str]:
    import grpc

    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status.value
    return grpc.StatusCode.UNKNOWN.value


def gateway(app: Any, token: str | None) -> Any:
    """Kubeflow's gateway in miniature: /ml_metadata only, and a credential unless none is set."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/ml_metadata"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"404 page not found"]
        if token:
            auth = environ.get("HTTP_AUTHORIZATION", "")
            cookie = environ.get("HTTP_COOKIE", "")
            if auth != f"Bearer {token}" and f"oauth2_proxy_kubeflow={token}" not in cookie:
                start_response("401 Unauthorized", [("Content-Type", "text/plain")])
                return [b"Unauthorized"]
        return app(environ, start_response)

    return wrapped


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--seed", type=Path)
    parser.add_argument("--token")
    args = parser.parse_args()

    import sonora.wsgi

    store = open_store(args.db)
    if args.seed:
        seed_store(store, json.loads(args.seed.read_text()))
    grpc_web = sonora.wsgi.grpcWSGI(None)
    grpc_web.add_generic_rpc_handlers([rpc_handlers(store)])
    server = make_server("127.0.0.1", 0, gateway(grpc_web, args.token), server_class=_Server,
                         handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"READY {server.server_address[1]}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    sys.exit(main())
