"""A model server on 127.0.0.1 standing in for a KServe predictor, answering as a test scripts it.

Each base URL handed out by `url_for` (the FakeKServe hook) routes to a key: the revision name for
tagged revision URLs, the InferenceService name for service URLs. `script(key, "ok", "error",
"hang", ...)` sets the answers for that key in order (the last one repeats); unscripted keys
answer "ok". "hang" holds the request until the server stops (or 30 s), to exercise timeouts.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ModelEndpoint:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._script: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                parts = self.path.split("/")
                key = parts[2] if len(parts) > 2 else ""
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with endpoint._lock:
                    endpoint.requests.append({"key": key, "path": self.path,
                                              "headers": dict(self.headers), "body": body})
                    answers = endpoint._script.get(key) or ["ok"]
                    answer = answers.pop(0) if len(answers) > 1 else answers[0]
                if answer == "hang":
                    endpoint._stop.wait(30)
                    return
                status = {"ok": 200, "error": 500, "missing": 404, "unavailable": 503}[answer]
                data = json.dumps({"predictions": [1]} if status == 200 else
                                  {"error": f"scripted {answer}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ModelEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def script(self, key: str, *answers: str) -> None:
        with self._lock:
            self._script[key] = list(answers)

    def url_for(self, tag: str | None, revision: str | None, isvc: str, namespace: str) -> str:
        """FakeKServe's URL hook: tagged revisions by revision name, services by ISVC name."""
        if tag:
            return f"{self.base}/rev/{revision}"
        if revision == "predictor":
            return f"{self.base}/svc/{isvc}-predictor"
        return f"{self.base}/svc/{isvc}"

    def hits(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["key"] == key]
