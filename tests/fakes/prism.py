"""Stoplight Prism as a validating proxy in front of FakeKfp, using KFP's own API description.

`prism proxy --errors` checks each request against the spec before forwarding it and each
upstream response on the way back, and answers 422 (bad request) or 500 (bad response) instead
when one violates it. So a test that passes through Prism shows that our client and our fake
both agree with KFP's published contract, not only with each other.

Binary: $KFOPS_PRISM, else <repo>/.ci/node_modules/.bin/prism (.ci/install-prism.sh), else
`prism` on PATH. Spec: $KFOPS_KFP_SPEC, else <repo>/../shared/specs/kfp_api_v2beta1.swagger.json.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALL_HOW_TO = ("run .ci/install-prism.sh (Node 20 + npm), or set KFOPS_PRISM to a prism "
                  "binary (npm @stoplight/prism-cli@5.14)")
SPEC_HOW_TO = "set KFOPS_KFP_SPEC to KFP's v2beta1 swagger file (kfp_api_v2beta1.swagger.json)"
START_TIMEOUT = 60.0


def prism_binary() -> str | None:
    """Where Prism is, or None if it is not installed."""
    configured = os.environ.get("KFOPS_PRISM")
    if configured:
        return configured
    local = REPO / ".ci" / "node_modules" / ".bin" / "prism"
    if local.exists():
        return str(local)
    return shutil.which("prism")


def kfp_spec() -> Path | None:
    path = Path(os.environ.get("KFOPS_KFP_SPEC")
                or REPO.parent / "shared" / "specs" / "kfp_api_v2beta1.swagger.json")
    return path if path.is_file() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrismError(RuntimeError):
    """Prism was found but did not start."""


class PrismProxy:
    """One `prism proxy --errors` process; a context manager, or start()/stop()."""

    def __init__(self, upstream: str, *, binary: str, spec: Path) -> None:
        self.upstream = upstream
        self.binary = binary
        self.spec = spec
        self.port = free_port()
        handle, name = tempfile.mkstemp(prefix="prism-", suffix=".log")
        os.close(handle)
        self._log = Path(name)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrismProxy:
        cmd = [self.binary, "proxy", "--errors", str(self.spec), self.upstream,
               "--host", "127.0.0.1", "--port", str(self.port)]
        with self._log.open("wb") as log:  # the child keeps its own descriptor
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        self._wait_until_listening()
        return self

    def _wait_until_listening(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PrismError(f"prism exited with {self._proc.returncode}:\n{self.log_tail()}")
            if "Prism is listening" in self.log() and _accepts(self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise PrismError(f"prism did not start within {START_TIMEOUT:g}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None

    def log(self) -> str:
        return self._log.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def __enter__(self) -> PrismProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._log.unlink(missing_ok=True)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
