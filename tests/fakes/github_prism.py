"""Prism in front of FakeGitHub, checking traffic against GitHub's own API description.

The launcher is tests/fakes/prism.py's `PrismProxy` (shared with the KFP tests); this module only
finds GitHub's description: `$KFOPS_GITHUB_SPEC` (a ready subset), else
`.ci/state/github-openapi-subset.json`, cut on first use from npm `@octokit/openapi`
(`$KFOPS_GITHUB_OPENAPI`, else .ci/node_modules/@octokit/openapi/generated/api.github.com.json)
by .ci/cut-github-openapi.py. Install both with .ci/install-github-openapi.sh.

Tests use the `github` fixture (import it into the test module): a reset fake reached directly
and through Prism, with one fake and one Prism shared by the whole test process. Prism's errors
(requests or answers against the description) are collected as contract errors, and its
`sl-violations` warnings too: at teardown both must be empty, except the warning for an answer
whose status the description does not list (the injected 5xx/429 and a 404 on an edited comment).
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .fake_github import FakeGitHub
from .prism import INSTALL_HOW_TO, REPO, PrismProxy, prism_binary

CUT_SCRIPT = REPO / ".ci" / "cut-github-openapi.py"
SUBSET = REPO / ".ci" / "state" / "github-openapi-subset.json"
SOURCE = REPO / ".ci" / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
SPEC_HOW_TO = ("run .ci/install-github-openapi.sh (npm @octokit/openapi, cut to the paths kfops uses), "
               "or set KFOPS_GITHUB_SPEC to a cut description")
_lock = threading.Lock()

__all__ = ["GITHUB_TOKEN", "INSTALL_HOW_TO", "SPEC_HOW_TO", "GitHubEndpoint", "PrismProxy", "cut_module",
           "github", "github_spec", "prism_binary", "shared_fake", "shared_prism", "start_prism"]


def cut_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cut_github_openapi", CUT_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def github_spec() -> Path | None:
    """The cut description, made now from the full one if needed; None when neither exists."""
    configured = os.environ.get("KFOPS_GITHUB_SPEC")
    if configured:
        path = Path(configured)
        return path if path.is_file() else None
    source = Path(os.environ.get("KFOPS_GITHUB_OPENAPI") or SOURCE)
    with _lock:
        fresh = SUBSET.is_file() and (not source.is_file() or SUBSET.stat().st_mtime >= source.stat().st_mtime
                                      and SUBSET.stat().st_mtime >= CUT_SCRIPT.stat().st_mtime)
        if fresh:
            return SUBSET
        if not source.is_file():
            return None
        cut = cut_module()
        subset = cut.cut(json.loads(source.read_text(encoding="utf-8")))
        SUBSET.parent.mkdir(parents=True, exist_ok=True)
        tmp = SUBSET.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(subset, indent=1) + "\n", encoding="utf-8")
        tmp.replace(SUBSET)
        return SUBSET


def start_prism(upstream: str) -> PrismProxy:
    """A started Prism proxying to `upstream` (callers skip first when binary or spec is missing)."""
    binary, spec = prism_binary(), github_spec()
    assert binary is not None and spec is not None
    return PrismProxy(upstream, binary=binary, spec=spec).start()


# -- what the tests use ----------------------------------------------------------------------------


# Shaped like an installation token, so the pattern scrubbing sees it as one too.
GITHUB_TOKEN = "ghs_kfopsTestToken0000111122223333444455"
_shared: dict[str, Any] = {}


def shared_fake() -> FakeGitHub:
    """One fake server per test process (Prism proxies to a fixed URL)."""
    if "fake" not in _shared:
        _shared["fake"] = FakeGitHub(token=GITHUB_TOKEN).start()
        atexit.register(_shared["fake"].stop)
    return _shared["fake"]


def shared_prism() -> PrismProxy:
    """One Prism per test process, started on first use (about 3 s), or a skip with the how-to."""
    if "prism" not in _shared:
        from conftest import require_infra

        if prism_binary() is None:
            require_infra("Prism", INSTALL_HOW_TO)
        if github_spec() is None:
            require_infra("GitHub's OpenAPI description", SPEC_HOW_TO)
        _shared["prism"] = start_prism(shared_fake().url)
        atexit.register(_shared["prism"].stop)
    return _shared["prism"]


def _record_session(endpoint: GitHubEndpoint) -> Any:
    """A requests.Session that notes what Prism says about each exchange."""
    import requests

    class Recording(requests.Session):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
            response = super().request(method, url, *args, **kwargs)
            endpoint.note(method, url, response)
            return response

    return Recording()


@dataclass
class GitHubEndpoint:
    """The fake, reached directly or through Prism, and helpers to build clients for it."""

    fake: FakeGitHub
    via: str
    prism: PrismProxy | None = None
    sleeps: list[float] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    contract_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.prism.url if self.prism is not None else self.fake.url

    def note(self, method: str, url: str, response: Any) -> None:
        violations = response.headers.get("sl-violations")
        if violations:
            self.warnings.append(f"{method} {url}: {violations}")
        # Prism's own errors (a request or an answer against the description: VIOLATIONS,
        # UNPROCESSABLE_ENTITY, NOT_ACCEPTABLE, NO_PATH_MATCHED_ERROR...) are problem+json with a
        # stoplight type; an upstream reset comes back as a plain FetchError, not counted here.
        if "stoplight.io/prism/errors#" in response.text[:200]:
            self.contract_errors.append(f"{method} {url} -> {response.status_code}: {response.text[:2000]}")

    def client(self, **options: Any) -> Any:
        from kfops_action.github.client import GitHubClient

        options.setdefault("api_url", self.url)
        options.setdefault("sleep", self.sleeps.append)
        options.setdefault("log", self.logs.append)
        options.setdefault("session", _record_session(self))
        return GitHubClient(options.pop("token", GITHUB_TOKEN), **options)

    def repo(self, **options: Any) -> Any:
        from kfops_action.github.refs import Repo
        from kfops_action.github.repo import GitHubRepo
        from kfops_action.github.scrub import Scrubber

        scrubber = options.pop("scrubber", None) or Scrubber([GITHUB_TOKEN])
        client = self.client(scrub=scrubber.scrub, **options)
        return GitHubRepo(client, Repo(self.fake.owner, self.fake.repo), scrubber=scrubber,
                          log=self.logs.append)

    def unexpected_warnings(self, allowed: Callable[[str], bool] = lambda w: False) -> list[str]:
        """Prism's warnings other than answers whose status the description does not list (the
        injected faults, 404 on an edited comment)."""
        return [w for w in self.warnings if "Unable to match the returned status code" not in w
                and not allowed(w)]


@pytest.fixture(params=["direct", pytest.param("prism", marks=pytest.mark.infra)])
def github(request: pytest.FixtureRequest) -> Iterator[GitHubEndpoint]:
    """A reset fake GitHub, reached directly or through Prism (both ways checked against
    GitHub's description). At teardown: no contract errors, no unexpected Prism warnings, and
    every request carried kfops' headers."""
    fake = shared_fake()
    fake.reset()
    prism = shared_prism() if request.param == "prism" else None
    fake.public_url = prism.url if prism is not None else None
    endpoint = GitHubEndpoint(fake, request.param, prism)
    yield endpoint
    fake.public_url = None
    problems = list(fake.problems)
    fake.reset()
    assert endpoint.contract_errors == [], "GitHub contract violations:\n" + "\n".join(endpoint.contract_errors)
    assert endpoint.unexpected_warnings() == [], "Prism warnings:\n" + "\n".join(endpoint.unexpected_warnings())
    assert problems == [], "\n".join(problems)
