"""A small grpc-web client for ML Metadata (MLMD), over `requests`.

Why grpc-web and not gRPC: KFP's UI reads metrics exactly this way. Its server proxies
`/ml_metadata.MetadataStoreService/<Method>` at the ROOT of the Kubeflow host (not under
`/pipeline`) to metadata-envoy, which translates grpc-web into gRPC for metadata-grpc-service. That
route sits behind the same gateway as the KFP API, so the same bearer token or session cookie works,
and it needs no HTTP/2, no grpcio and no port-forward. Why not the `ml-metadata` package: 1.17 pins
protobuf<5 (conflicts with kfp 2.17) and 1.21 needs glibc 2.39.

Wire format (binary mode, `application/grpc-web+proto`): the request body is one frame, a flag
byte 0x00, a 4-byte big-endian length, then the serialized request. The reply is a sequence of such
frames: data frames (flag bit 7 clear) and one trailer frame (flag 0x80) holding
`grpc-status: N\\r\\ngrpc-message: ...` lines. A proxy may instead answer "trailers-only", with
grpc-status in the HTTP headers and no body; both forms are handled.

Failures are split in two, because the caller reacts differently:
- `MlmdUnavailable`: the route is not there or not for us (404, 401, 403, a redirect or an HTML
  login page, a connection failure, a non-grpc-web answer). The metrics reader then falls back.
- `MlmdCallError`: MLMD itself answered with a non-zero grpc-status (e.g. INVALID_ARGUMENT).
Both are RemoteErrors with the secrets of the connection scrubbed from every message.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from kfops_action.errors import Problem, RemoteError

if TYPE_CHECKING:
    import requests
    from google.protobuf.message import Message

    from kfops_action.kubeflow.connection import Connection

SERVICE = "ml_metadata.MetadataStoreService"
CONTENT_TYPE = "application/grpc-web+proto"
PAGE_SIZE = 100  # MLMD silently truncates pages above 100 (returns 101 items, no token)
MAX_PAGES = 1000
MAX_REPLY_BYTES = 64 * 1024 * 1024

# gRPC status codes, for messages.
GRPC_CODES = {0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
              5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
              9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
              13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED"}

_FIX_ROUTE = ("expose MLMD's grpc-web route: on full Kubeflow the Istio VirtualService "
              "`metadata-grpc` sends /ml_metadata to metadata-envoy-service:9090; on standalone KFP "
              "port-forward svc/ml-pipeline-ui and point metrics.mlmd_endpoint at it. Without it, "
              "kfops reads the metrics file convention instead (see kfops_action/metrics/read.py)")

M = TypeVar("M", bound="Message")


class MlmdError(RemoteError):
    """Any failure to get an answer from MLMD."""


class MlmdUnavailable(MlmdError):
    """No grpc-web MLMD at that URL for these credentials: a reason to fall back, not to stop."""


class MlmdCallError(MlmdError):
    """MLMD answered the call with a non-zero grpc-status."""

    def __init__(self, what: str, problems: list[Problem] | None = None, fix: str | None = None,
                 *, code: int = 2, grpc_message: str = "") -> None:
        super().__init__(what, problems, fix)
        self.code = code
        self.grpc_message = grpc_message


# -- framing (pure) ---------------------------------------------------------------------------


def frame(payload: bytes, *, trailer: bool = False) -> bytes:
    """One grpc-web frame: flag byte, 4-byte big-endian length, payload."""
    return struct.pack(">BI", 0x80 if trailer else 0x00, len(payload)) + payload


def parse_frames(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    """Split a reply body into data payloads and the (lower-cased) trailers.

    Raises ValueError on a truncated or compressed frame: we never ask for compression, so a
    compressed frame means something other than an MLMD reply.
    """
    messages: list[bytes] = []
    trailers: dict[str, str] = {}
    pos = 0
    while pos < len(body):
        if len(body) - pos < 5:
            raise ValueError(f"truncated frame header at byte {pos}")
        flag, length = struct.unpack_from(">BI", body, pos)
        pos += 5
        if len(body) - pos < length:
            raise ValueError(f"frame at byte {pos - 5} announces {length} bytes, "
                             f"{len(body) - pos} follow")
        payload = body[pos:pos + length]
        pos += length
        if flag & 0x01:
            raise ValueError("compressed frame (no compression was negotiated)")
        if flag & 0x80:
            trailers.update(parse_trailers(payload))
        else:
            messages.append(payload)
    return messages, trailers


def parse_trailers(payload: bytes) -> dict[str, str]:
    """`name: value` lines (CRLF or LF separated) into a dict with lower-cased names."""
    out: dict[str, str] = {}
    for line in payload.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        name, sep, value = line.partition(":")
        if sep and name.strip():
            out[name.strip().lower()] = value.strip()
    return out


def grpc_status(headers: Mapping[str, str], trailers: Mapping[str, str]) -> tuple[int, str] | None:
    """(code, message) from the trailers, else from trailers-only headers; None when absent."""
    for source in (trailers, {k.lower(): v for k, v in headers.items()}):
        raw = source.get("grpc-status")
        if raw is not None:
            try:
                code = int(raw.strip())
            except ValueError:
                code = 2  # UNKNOWN: an unreadable status is not OK
            return code, unquote(source.get("grpc-message", ""))
    return None


# -- the channel ------------------------------------------------------------------------------


@dataclass
class GrpcWebChannel:
    """Unary grpc-web calls to one base URL. `token` may be a callable, so that a rotated
    service-account token is read again for each call (see Connection.current_token)."""

    base_url: str
    token: str | Callable[[], str | None] | None = field(default=None, repr=False)
    cookie: str | None = field(default=None, repr=False)
    verify: bool | str = True
    timeout: float = 30.0
    secrets: Sequence[str] = field(default=(), repr=False)
    session: requests.Session | None = field(default=None, repr=False)

    def call(self, method: str, request: Message, response_type: type[M]) -> M:
        """Call `/ml_metadata.MetadataStoreService/<method>`; return the parsed reply."""
        import requests

        url = f"{self.base_url.rstrip('/')}/{SERVICE}/{method}"
        what = f"call MLMD {method}"
        headers = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE, "X-Grpc-Web": "1",
                   "TE": "trailers", "X-User-Agent": "grpc-web-python/kfops"}
        token = self.token() if callable(self.token) else self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.cookie:
            headers["Cookie"] = self.cookie
        http = self.session or requests
        try:
            reply = http.post(url, data=frame(request.SerializeToString()), headers=headers,
                              timeout=self.timeout, verify=self.verify, allow_redirects=False,
                              stream=True)
            body = _read_limited(reply)
        except requests.exceptions.SSLError as exc:
            raise self._unavailable(f"TLS failure: {_first_line(exc)}", what, url) from None
        except requests.exceptions.Timeout:
            raise self._unavailable(f"no answer within {self.timeout:g}s", what, url) from None
        except requests.exceptions.ConnectionError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else \
                f"cannot connect ({_first_line(exc)})"
            raise self._unavailable(reason, what, url) from None
        except requests.exceptions.RequestException as exc:
            raise self._unavailable(_first_line(exc), what, url) from None
        except _TooLarge:
            raise MlmdCallError(self._clean(f"MLMD's reply to {what} is larger than "
                                            f"{MAX_REPLY_BYTES // 2**20} MiB"),
                                [Problem("reply too large", self._clean(url))], None,
                                code=8) from None
        return self._decode(reply, body, method, url, response_type)

    def _decode(self, reply: Any, body: bytes, method: str, url: str,
                response_type: type[M]) -> M:
        what = f"call MLMD {method}"
        status = reply.status_code
        ctype = (reply.headers.get("Content-Type") or "").lower()
        if 300 <= status < 400:
            where = reply.headers.get("Location") or "another page"
            raise self._unavailable(f"redirected to {where} (HTTP {status}): most likely a login "
                                    "page, the credentials are missing or expired", what, url,
                                    status)
        if status in (401, 403):
            raise self._unavailable(f"HTTP {status}: the credentials were refused for the MLMD "
                                    "route", what, url, status)
        if status == 404:
            raise self._unavailable("HTTP 404: no MLMD grpc-web route at this URL", what, url,
                                    status)
        if status != 200:
            raise self._unavailable(f"HTTP {status}", what, url, status)
        if not ctype.startswith("application/grpc-web"):
            kind = "an HTML page (a login page?)" if "html" in ctype else (ctype or "no content-type")
            raise self._unavailable(f"the answer was {kind}, not grpc-web", what, url, status)
        if ctype.startswith("application/grpc-web-text"):
            raise self._unavailable("the answer is grpc-web-text (base64), kfops asked for binary",
                                    what, url, status)
        try:
            messages, trailers = parse_frames(body)
        except ValueError as exc:
            raise MlmdCallError(self._clean(f"MLMD sent a malformed grpc-web reply to {what}: {exc}"),
                                [Problem("malformed frames", self._clean(url))],
                                "a proxy between kfops and MLMD altered the reply", code=13) from None
        found = grpc_status(reply.headers, trailers)
        if found is None:
            raise MlmdCallError(self._clean(f"MLMD's reply to {what} ended without a grpc-status"),
                                [Problem("no grpc-status in the headers or the trailers",
                                         self._clean(url))],
                                "a proxy cut the reply short; retry", code=2)
        code, message = found
        if code != 0:
            name = GRPC_CODES.get(code, str(code))
            detail = f": {message}" if message else ""
            raise MlmdCallError(self._clean(f"MLMD answered {method} with {name}{detail}"),
                                [Problem(f"grpc-status {code}", self._clean(url))],
                                "UNAVAILABLE means metadata-grpc-service is down; other codes "
                                "are MLMD's own answer", code=code,
                                grpc_message=self._clean(message))
        if len(messages) > 1:
            raise MlmdCallError(self._clean(f"MLMD answered the unary {what} with "
                                            f"{len(messages)} messages"),
                                [Problem("expected exactly one data frame", self._clean(url))],
                                None, code=13)
        result = response_type()
        try:
            result.ParseFromString(messages[0] if messages else b"")
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError
            raise MlmdCallError(self._clean(f"cannot decode MLMD's reply to {what}: {exc}"),
                                [Problem("not a valid protobuf message", self._clean(url))],
                                None, code=13) from None
        return result  # type: ignore[no-any-return]  # protobuf classes are untyped here

    def _clean(self, text: str) -> str:
        token = self.token() if callable(self.token) else self.token
        for secret in sorted({s for s in (*self.secrets, token or "", self.cookie or "") if s},
                             key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def _unavailable(self, reason: str, what: str, url: str,
                     status: int | None = None) -> MlmdUnavailable:
        error = MlmdUnavailable(self._clean(f"ML Metadata is not reachable at {self.base_url}: "
                                            f"{reason}"),
                                [Problem(f"while trying to {what}", self._clean(url))], _FIX_ROUTE)
        error.status = status
        return error


def _read_limited(reply: Any) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in reply.iter_content(65536):
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            reply.close()
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


class _TooLarge(Exception):
    pass


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


# -- MLMD calls -------------------------------------------------------------------------------


class MlmdClient:
    """The MLMD read calls KFP's UI makes for a run, each paged as MLMD needs."""

    def __init__(self, channel: GrpcWebChannel) -> None:
        self.channel = channel

    @classmethod
    def from_connection(cls, conn: Connection, base_url: str | None = None) -> MlmdClient:
        """Reuse the KFP connection's credentials and TLS settings. The grpc-web route is at the
        root of the Kubeflow host, so the endpoint's path (e.g. /pipeline) is dropped."""
        if base_url is None:
            parts = urlsplit(conn.endpoint)
            base_url = f"{parts.scheme}://{parts.netloc}"
        verify: bool | str = conn.ca_cert if (conn.verify_ssl and conn.ca_cert) else conn.verify_ssl
        return cls(GrpcWebChannel(base_url=base_url, token=conn.current_token, cookie=conn.cookie,
                                  verify=verify, timeout=conn.timeout, secrets=conn.secrets()))

    def _pb(self) -> Any:
        from kfops_action.metrics import mlmd_min_pb2

        return mlmd_min_pb2

    def run_context(self, type_name: str, name: str) -> Any | None:
        """The context, or None: MLMD answers OK with no context for an unknown name."""
        pb = self._pb()
        reply = self.channel.call("GetContextByTypeAndName",
                                  pb.GetContextByTypeAndNameRequest(type_name=type_name,
                                                                    context_name=name),
                                  pb.GetContextByTypeAndNameResponse)
        return reply.context if reply.HasField("context") else None

    def executions_by_context(self, context_id: int) -> list[Any]:
        pb = self._pb()
        return list(self._paged("GetExecutionsByContext", pb.GetExecutionsByContextRequest,
                                pb.GetExecutionsByContextResponse, "executions", context_id))

    def artifacts_by_context(self, context_id: int) -> list[Any]:
        pb = self._pb()
        return list(self._paged("GetArtifactsByContext", pb.GetArtifactsByContextRequest,
                                pb.GetArtifactsByContextResponse, "artifacts", context_id))

    def events_by_execution_ids(self, execution_ids: Iterable[int]) -> list[Any]:
        pb = self._pb()
        ids = sorted(set(execution_ids))
        events: list[Any] = []
        for start in range(0, len(ids), 500):  # keep each request small
            reply = self.channel.call("GetEventsByExecutionIDs",
                                      pb.GetEventsByExecutionIDsRequest(
                                          execution_ids=ids[start:start + 500]),
                                      pb.GetEventsByExecutionIDsResponse)
            events.extend(reply.events)
        return events

    def artifacts_by_id(self, artifact_ids: Iterable[int]) -> list[Any]:
        """The artifacts with these ids (their `uri`, type and properties), types filled in.

        /deploy needs this: KFP's REST API gives a task's output artifact ids only; where the
        model file is (`uri`) is in MLMD."""
        pb = self._pb()
        ids = sorted(set(artifact_ids))
        found: list[Any] = []
        for start in range(0, len(ids), 100):
            reply = self.channel.call("GetArtifactsByID",
                                      pb.GetArtifactsByIDRequest(artifact_ids=ids[start:start + 100],
                                                                 populate_artifact_types=True),
                                      pb.GetArtifactsByIDResponse)
            names = {t.id: t.name for t in reply.artifact_types}
            for artifact in reply.artifacts:
                if not artifact.type and artifact.type_id in names:
                    artifact.type = names[artifact.type_id]
                found.append(artifact)
        return found

    def artifact_types(self) -> dict[int, str]:
        pb = self._pb()
        reply = self.channel.call("GetArtifactTypes", pb.GetArtifactTypesRequest(),
                                  pb.GetArtifactTypesResponse)
        return {t.id: t.name for t in reply.artifact_types}

    def _paged(self, method: str, request_type: Any, response_type: Any, items: str,
               context_id: int) -> Iterator[Any]:
        pb = self._pb()
        token = ""
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            options = pb.ListOperationOptions(max_result_size=PAGE_SIZE)
            if token:
                options.next_page_token = token
            reply = self.channel.call(method, request_type(context_id=context_id, options=options),
                                      response_type)
            yield from getattr(reply, items)
            token = reply.next_page_token
            if not token:
                return
            if token in seen:
                raise MlmdCallError(f"MLMD repeated the page token of {method}",
                                    [Problem("paging does not advance", self.channel.base_url)],
                                    None, code=13)
            seen.add(token)
        raise MlmdCallError(f"MLMD's {method} has more than {MAX_PAGES} pages",
                            [Problem("too many pages", self.channel.base_url)], None, code=8)
