"""The endpoint check: POST a sample request to the *new* model and expect a status code.

Readiness probes only say the container answers; the endpoint check says the new model answers a
real request the way the team expects, before it gets all the traffic. Where the request goes:

- by default, the new revision's own URL, read from `status.components.predictor.traffic` (the
  entry tagged `latest`, which KServe adds with `serving.kserve.io/enable-tag-routing: "true"`),
  plus `endpoint_check.path` (default `/v1/models/{{ name }}:predict`);
- `endpoint_check.url` (and `headers`) override it, e.g. the ingress gateway's address with
  `Host: "{{ host }}"`, when the runner cannot resolve the cluster's domain. `{{ url }}`,
  `{{ host }}`, `{{ revision }}`, `{{ name }}`, `{{ service }}` and `{{ namespace }}` are filled in
  from the target. `{{ name }}` is the configured InferenceService name (what the template's
  `{{ name }}` became, e.g. a MODEL_NAME); `{{ service }}` is the InferenceService answering, which
  differs only for the RawDeployment candidate (`<name>-candidate`): built-in KServe runtimes name
  the model after it, so they need `path: /v1/models/{{ service }}:predict` in replace mode.

Retries are bounded with exponential backoff: through Knative, a 502/503 can come from the
activator while a revision scales from zero. Header values never appear in a report (they often
carry credentials). `requests` is imported only when a check runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..errors import ConfigError, Problem

DEFAULT_PATH = "/v1/models/{{ name }}:predict"


@dataclass(frozen=True)
class CheckTarget:
    """Where the new model can be reached, as read from the InferenceService status."""

    name: str                 # the configured InferenceService name ({{ name }} in the template)
    namespace: str
    url: str | None           # base URL of the new revision (or candidate service), if known
    revision: str | None = None
    what: str = "the new revision"
    service: str | None = None  # the InferenceService answering, when not `name` (a candidate)


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    url: str | None
    attempts: int
    status: int | None
    detail: str
    seconds: float = 0.0


class EndpointChecker(Protocol):
    """What the rollout engine needs: check a target, say whether it passed and why not."""

    needs_revision_url: bool

    def __call__(self, target: CheckTarget) -> CheckOutcome: ...


@dataclass(frozen=True)
class EndpointCheckConfig:
    """`deployment.<env>.endpoint_check`, with the sample already read and validated."""

    sample: bytes
    url: str | None = None
    path: str = DEFAULT_PATH
    headers: Mapping[str, str] = field(default_factory=dict)
    expected_status: int = 200
    retries: int = 5
    backoff: float = 1.0
    max_backoff: float = 10.0
    request_timeout: float = 10.0

    @classmethod
    def from_settings(cls, section: Mapping[str, Any] | None, base_dir: Path,
                      *, where: str = "endpoint_check") -> EndpointCheckConfig | None:
        """None when no check is configured (the report then says so)."""
        if not section:
            return None
        sample_file = section.get("sample")
        if not sample_file:
            raise ConfigError(f"{where}.sample is not set: the endpoint check needs a request to send",
                              fix="point endpoint_check.sample at a JSON file with a sample request")
        path = (base_dir / sample_file)
        try:
            data = path.read_bytes()
            json.loads(data)
        except OSError as exc:
            raise ConfigError(f"cannot read the endpoint-check sample {path}: {exc.strerror or exc}",
                              [Problem("set here", f"{where}.sample")]) from None
        except ValueError as exc:
            raise ConfigError(f"the endpoint-check sample {path} is not valid JSON: {exc}",
                              [Problem("set here", f"{where}.sample")]) from None
        return cls(sample=data, url=section.get("url"), path=section.get("path", DEFAULT_PATH),
                   headers=dict(section.get("headers") or {}),
                   expected_status=int(section.get("expected_status", 200)),
                   retries=int(section.get("retries", 5)),
                   request_timeout=float(section.get("request_timeout", 10)))


def _fill(text: str, target: CheckTarget) -> str:
    base = target.url or ""
    values = {"url": base.rstrip("/"), "host": urlsplit(base).netloc if base else "",
              "revision": target.revision or "", "name": target.name, "namespace": target.namespace,
              "service": target.service or target.name}
    for key, value in values.items():
        for spelling in (f"{{{{ {key} }}}}", f"{{{{{key}}}}}"):
            text = text.replace(spelling, value)
    return text


class HttpEndpointCheck:
    """The real checker (requests). `post` and `sleep` are injectable for tests."""

    def __init__(self, config: EndpointCheckConfig, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 post: Callable[..., Any] | None = None) -> None:
        self.config = config
        self.sleep, self.clock = sleep, clock
        self._post = post

    @property
    def needs_revision_url(self) -> bool:
        """True when the URL comes from the status (so tag routing must be on)."""
        return self.config.url is None

    def resolve(self, target: CheckTarget) -> tuple[str | None, dict[str, str]]:
        headers = {k: _fill(v, target) for k, v in self.config.headers.items()}
        if self.config.url:
            return _fill(self.config.url, target), headers
        if not target.url:
            return None, headers
        return target.url.rstrip("/") + _fill(self.config.path, target), headers

    def __call__(self, target: CheckTarget) -> CheckOutcome:
        started = self.clock()
        url, headers = self.resolve(target)
        if url is None:
            return CheckOutcome(False, None, 0, None,
                                f"no URL for {target.what}: KServe reports one only with the annotation "
                                "serving.kserve.io/enable-tag-routing: \"true\"; or set "
                                "endpoint_check.url", 0.0)
        post = self._post or _requests_post()
        headers.setdefault("Content-Type", "application/json")
        attempts_allowed = 1 + max(0, self.config.retries)
        detail, status = "", None
        for attempt in range(1, attempts_allowed + 1):
            try:
                response = post(url, data=self.config.sample, headers=headers,
                                timeout=self.config.request_timeout, allow_redirects=False)
            except Exception as exc:  # requests' connection errors, timeouts, invalid URLs
                status, detail = None, _describe_exception(exc, self.config.request_timeout)
            else:
                status = int(response.status_code)
                if status == self.config.expected_status:
                    return CheckOutcome(True, url, attempt, status, f"HTTP {status}",
                                        self.clock() - started)
                detail = f"HTTP {status} (expected {self.config.expected_status}): " \
                         f"{_excerpt(getattr(response, 'text', ''))}"
            if attempt < attempts_allowed:
                self.sleep(min(self.config.max_backoff, self.config.backoff * 2 ** (attempt - 1)))
        return CheckOutcome(False, url, attempts_allowed, status,
                            f"{detail} (after {attempts_allowed} attempt"
                            f"{'s' if attempts_allowed != 1 else ''})", self.clock() - started)


def _requests_post() -> Callable[..., Any]:
    import requests

    return requests.post


def _describe_exception(exc: Exception, timeout: float) -> str:
    name = type(exc).__name__
    if "Timeout" in name:
        return f"no answer within {timeout:g} s ({name})"
    if "Connection" in name:
        return f"could not connect ({name})"
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{name}: {first}" if first else name


def _excerpt(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
