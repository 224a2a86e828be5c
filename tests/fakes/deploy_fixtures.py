"""Fixtures shared by the deploy tests that need the real API server (imported by those modules).

Each test gets its own namespace, so the session's API server is shared without interference, a
FakeKServe thread reconciling that namespace, and a ModelEndpoint its URLs point at.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.kserve_controller import FakeKServe
from fakes.model_endpoint import ModelEndpoint

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"
SAMPLE = b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}'


@pytest.fixture
def admin(kube_api: Any) -> Any:
    return kube_api.api_client()


@pytest.fixture
def namespace(admin: Any) -> Iterator[str]:
    from kubernetes import client

    name = f"deploy-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": name}})
    yield name
    # namespaces are never deleted: no namespace controller runs, and each test uses a new one


@pytest.fixture
def endpoint() -> Iterator[ModelEndpoint]:
    with ModelEndpoint() as server:
        yield server


@pytest.fixture
def kserve(admin: Any, namespace: str, endpoint: ModelEndpoint) -> Iterator[FakeKServe]:
    with FakeKServe(admin, namespace, url_for=endpoint.url_for) as controller:
        yield controller
    assert controller.errors == []


def provenance(run: str = "run-1", pr: int = 7) -> dict[str, Any]:
    return {"pr": f"acme/iris#{pr}", "commit": "0123456789abcdef0123456789abcdef01234567",
            "run_id": run, "actor": "alice", "workflow_run": "https://ci.invalid/runs/99"}


def settings(namespace: str, name: str = "iris", **extra: Any) -> dict[str, Any]:
    return {"namespace": namespace, "inference_service": name,
            "template": "inference-service.yaml", "canary_percent": 10, **extra}


def manifest(namespace: str, name: str = "iris", model: str = "s3://models/run-1/model.json",
             annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """The quickstart template, rendered as /deploy would."""
    from kfops_action.deploy.template import TemplateValues, load_manifest

    rendered = load_manifest("inference-service.yaml", QUICKSTART,
                             TemplateValues(name, namespace, model, 10))
    if annotations:
        rendered["metadata"].setdefault("annotations", {}).update(annotations)
    return rendered


def fast_timeouts(**overrides: float) -> Any:
    from kfops_action.deploy import Timeouts

    values = dict(ready=4.0, promote=4.0, rollback=4.0, poll=0.05, lock_wait=0.0,
                  lock_duration=60.0)
    values.update(overrides)
    return Timeouts(**values)


def checker(**overrides: Any) -> Any:
    from kfops_action.deploy import EndpointCheckConfig, HttpEndpointCheck

    values: dict[str, Any] = dict(sample=SAMPLE, retries=1, backoff=0.01, request_timeout=0.5)
    values.update(overrides)
    return HttpEndpointCheck(EndpointCheckConfig(**values))
