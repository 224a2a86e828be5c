"""Shared fixtures. Nothing starts at import or collection time: servers start only inside the
fixtures that need them, so tests that do not use them pay nothing.

Tests that need a real component (Prism, kube-apiserver) call `require_infra`: skipped with a
how-to by default, a failure when KFOPS_REQUIRE_INFRA=1 (CI, where skipping would hide gaps).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.fake_kfp import FakeKfp
    from fakes.kube import KubeApi
    from fakes.prism import PrismProxy

FAKE_TOKEN = "kfops-test-token-7c1e5b"

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "quickstart"


def kfc(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run kfc as a user would (a subprocess), with no KF_PIPELINES_* leaking in from outside."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KF_PIPELINES")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "kfops_action.cli", *args], cwd=cwd or ROOT,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example project, so runs write their outputs outside the repository."""
    dest = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".kfops"))
    return dest


def require_infra(component: str, how_to: str) -> None:
    """Skip (or, with KFOPS_REQUIRE_INFRA=1, fail) a test whose component is missing."""
    message = f"{component} is not available: {how_to}"
    if os.environ.get("KFOPS_REQUIRE_INFRA") == "1":
        pytest.fail(f"{message} (KFOPS_REQUIRE_INFRA=1 forbids skipping)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def _fake_kfp_server() -> Iterator[FakeKfp]:
    """One fake server for the session, so a session-wide Prism can proxy to a fixed URL."""
    from fakes.fake_kfp import FakeKfp

    with FakeKfp(token=FAKE_TOKEN) as fake:
        yield fake


@pytest.fixture
def fake_kfp(_fake_kfp_server: FakeKfp) -> Iterator[FakeKfp]:
    """A fresh (reset) fake KFP that expects `Authorization: Bearer FAKE_TOKEN`.

    At teardown, asserts that no request or response broke KFP's contract. A test that sends a
    deliberately wrong body must clear `contract_errors` itself after checking them.
    """
    _fake_kfp_server.reset()
    yield _fake_kfp_server
    errors = list(_fake_kfp_server.contract_errors)
    _fake_kfp_server.reset()
    assert errors == [], "KFP contract violations:\n" + "\n".join(errors)


@pytest.fixture(scope="session")
def prism_proxy(_fake_kfp_server: FakeKfp) -> Iterator[PrismProxy]:
    """Prism in front of the session's fake, started on first use (a few seconds)."""
    from fakes.prism import INSTALL_HOW_TO, SPEC_HOW_TO, PrismProxy, kfp_spec, prism_binary

    binary, spec = prism_binary(), kfp_spec()
    if binary is None:
        require_infra("Prism", INSTALL_HOW_TO)
    if binary is not None and shutil.which(binary) is None:
        require_infra("Prism", f"{binary} (from KFOPS_PRISM) is not an executable; "
                               + INSTALL_HOW_TO)
    if spec is None:
        require_infra("KFP's v2beta1 API description", SPEC_HOW_TO)
    assert binary is not None and spec is not None
    with PrismProxy(_fake_kfp_server.url, binary=binary, spec=spec) as prism:
        yield prism


@pytest.fixture(params=["direct", pytest.param("prism", marks=pytest.mark.infra)])
def kfp_endpoint(request: pytest.FixtureRequest, fake_kfp: FakeKfp) -> str:
    """The URL a client under test should use: the fake itself, or Prism validating both ways."""
    if request.param == "direct":
        return fake_kfp.url
    prism: PrismProxy = request.getfixturevalue("prism_proxy")
    return prism.url


@pytest.fixture(scope="session")
def kube_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApi]:
    """A real kube-apiserver + etcd with the KServe CRD, shared by the session (about 10 s)."""
    from fakes.kube import ETCD_HOW_TO, INFRA_HOW_TO, etcd_binary, infra_dir, start_kube_api

    infra, etcd = infra_dir(), etcd_binary()
    if infra is None:
        require_infra("Kubernetes API server", INFRA_HOW_TO)
    if etcd is None:
        require_infra("etcd", ETCD_HOW_TO)
    assert infra is not None and etcd is not None
    api = start_kube_api(tmp_path_factory.mktemp("k8s"), infra, etcd)
    try:
        yield api
    finally:
        api.stop()
