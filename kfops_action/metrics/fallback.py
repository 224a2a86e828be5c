"""The metrics file convention: how a run's metrics are found when ML Metadata is not reachable.

Why a convention: KFP 2.17's REST API returns artifact ids but neither artifact URIs nor metric
values (both live only in MLMD), and KFP's own artifact URIs are not predictable. So the evaluation
component also writes its metrics where kfops can compute the location from the run id alone:

    <pipeline root>/kfops-metrics/<run id>/<metrics.fallback_file, default kfops-metrics.json>

with a JSON object as content, either by task or flat (filed under the task "metrics"):

    {"evaluate": {"accuracy": 0.93, "log_loss": 0.21}}      or      {"accuracy": 0.93}

Only numbers count. In a component (the run id and root are KFP placeholders):

    @dsl.component(packages_to_install=["s3fs"])   # or gcsfs, or your storage client
    def evaluate(..., run_id: str = dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                 root: str = dsl.PIPELINE_ROOT_PLACEHOLDER): ...
        write f"{root}/kfops-metrics/{run_id}/kfops-metrics.json"

kfops then reads the file through KFP UI's artifact endpoint (`<ui>/artifacts/get?source=&bucket=
&key=&namespace=`), with the same credentials as the KFP API, so nothing new has to be exposed. On
multi-user Kubeflow that endpoint serves keys under the namespace's own prefix
(`private-artifacts/<namespace>/`), which is where the default per-namespace pipeline root is.

Locally (kfp.local) the pipeline root is the run's outputs folder, so the same component code
writes a plain file there; `local_file_reader` reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kfops_action.errors import Problem, RemoteError

if TYPE_CHECKING:
    from kfops_action.kubeflow.connection import Connection

FOLDER = "kfops-metrics"
DEFAULT_FILE = "kfops-metrics.json"
MAX_BYTES = 1024 * 1024
_SOURCES = {"minio": "minio", "s3": "s3", "gs": "gcs"}


def metrics_file_uri(pipeline_root: str, run_id: str, file_name: str = DEFAULT_FILE) -> str:
    """Where the evaluation component writes its metrics for `run_id`."""
    return f"{pipeline_root.rstrip('/')}/{FOLDER}/{run_id}/{file_name}"


def local_file_reader(outputs_dir: Path) -> Callable[[str, str], bytes | None]:
    """Read the file a local run wrote under its outputs folder (its pipeline root). The local
    run id is kfp.local's own, unknown to the caller, so any run folder is accepted."""

    def read(run_id: str, file_name: str) -> bytes | None:
        exact = outputs_dir / FOLDER / run_id / file_name
        candidates = [exact] if exact.is_file() else sorted(outputs_dir.glob(f"{FOLDER}/*/{file_name}"))
        for path in candidates:
            if path.is_file() and path.stat().st_size <= MAX_BYTES:
                return path.read_bytes()
        return None

    return read


class ArtifactsEndpointReader:
    """Read the metrics file through KFP UI's `/artifacts/get`, with the connection's credentials.

    Returns None when the file is not there (404), raises RemoteError for anything else, which
    read.read_run_metrics turns into a note.
    """

    def __init__(self, conn: Connection, pipeline_root: str, namespace: str | None = None) -> None:
        self.conn = conn
        self.pipeline_root = pipeline_root
        self.namespace = namespace if namespace is not None else conn.namespace

    def url_for(self, run_id: str, file_name: str) -> tuple[str, dict[str, str]]:
        uri = metrics_file_uri(self.pipeline_root, run_id, file_name)
        parts = urlsplit(uri)
        source = _SOURCES.get(parts.scheme)
        if source is None or not parts.netloc:
            raise RemoteError(f"cannot read {uri} through the KFP UI",
                              [Problem("the pipeline root must be minio://, s3:// or gs://",
                                       "kfops.yaml: pipeline.root")],
                              "set pipeline.root to the object-store root the runs use")
        params = {"source": source, "bucket": parts.netloc, "key": parts.path.lstrip("/")}
        if self.namespace:
            params["namespace"] = self.namespace
        return f"{self.conn.run_link_base.rstrip('/')}/artifacts/get", params

    def __call__(self, run_id: str, file_name: str) -> bytes | None:
        import requests

        url, params = self.url_for(run_id, file_name)
        headers = {"Accept": "application/octet-stream, application/json;q=0.9"}
        token = self.conn.current_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.conn.cookie:
            headers["Cookie"] = self.conn.cookie
        verify = self.conn.ca_cert if (self.conn.verify_ssl and self.conn.ca_cert) else \
            self.conn.verify_ssl
        try:
            reply = requests.get(url, params=params, headers=headers, timeout=self.conn.timeout,
                                 verify=verify, allow_redirects=False)
        except requests.exceptions.RequestException as exc:
            raise RemoteError(f"the KFP UI at {self.conn.run_link_base} is unreachable",
                              [Problem(type(exc).__name__, url)], None) from None
        if reply.status_code == 404:
            return None
        ctype = reply.headers.get("Content-Type", "").lower()
        if reply.status_code != 200 or "html" in ctype:
            raise RemoteError(f"the KFP UI refused to read the metrics file (HTTP "
                              f"{reply.status_code}{', an HTML page' if 'html' in ctype else ''})",
                              [Problem(f"key {params['key']}", url)],
                              "check the credentials and that the key is under the namespace's "
                              "pipeline root", status=reply.status_code)
        if len(reply.content) > MAX_BYTES:
            raise RemoteError(f"the metrics file is larger than {MAX_BYTES // 1024} KiB",
                              [Problem(f"key {params['key']}", url)],
                              "write only scalar metrics to the metrics file")
        return bytes(reply.content)
