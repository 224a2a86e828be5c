"""The real components the metrics tests use, found where .ci/install-metrics-infra.sh puts them
(or where KFOPS_MLMD_PYTHON / KFOPS_MERMAID_DIR say):

- a real ML Metadata store served over grpc-web on loopback (tests/fakes/mlmd_server.py, run by the
  Python of a venv holding ml-metadata 1.17.1 and sonora), started per test module and stopped by
  its process handle;
- Mermaid's own parser and markdown-it (node), to check what kfops posts in PR comments.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HOW_TO = "run `bash .ci/install-metrics-infra.sh` (a venv with ml-metadata 1.17.1 + sonora, and " \
         "npm mermaid + markdown-it under .ci/state)"


def mlmd_python() -> str | None:
    candidate = os.environ.get("KFOPS_MLMD_PYTHON") or str(ROOT / ".ci/state/mlmd-venv/bin/python")
    return candidate if Path(candidate).is_file() else None


def node_dir() -> Path | None:
    folder = Path(os.environ.get("KFOPS_MERMAID_DIR") or ROOT / ".ci/state/mermaid")
    ok = all((folder / p).exists() for p in ("parse.mjs", "markdown.mjs", "node_modules/mermaid",
                                             "node_modules/markdown-it", "node_modules/jsdom"))
    return folder if ok else None


class RealMlmd:
    """`with RealMlmd(python, tmp, seed, token) as url:` a real store seeded with `seed`."""

    def __init__(self, python: str, workdir: Path, seed: dict[str, Any],
                 token: str | None = None) -> None:
        self.python, self.workdir, self.seed, self.token = python, workdir, seed, token
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        seed_file = self.workdir / "seed.json"
        seed_file.write_text(json.dumps(self.seed))
        command = [self.python, str(ROOT / "tests/fakes/mlmd_server.py"),
                   "--db", str(self.workdir / "mlmd.sqlite"), "--seed", str(seed_file)]
        if self.token:
            command += ["--token", self.token]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=(self.workdir / "server.log").open("w"),
                                        stdin=subprocess.DEVNULL, text=True)
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if ready:
                line = self.process.stdout.readline()
                if line.startswith("READY "):
                    return f"http://127.0.0.1:{int(line.split()[1])}"
                if not line:
                    break
            if self.process.poll() is not None:
                break
        self.__exit__()
        log = (self.workdir / "server.log").read_text()[-3000:]
        raise RuntimeError(f"the MLMD server did not start:\n{log}")

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()


def _node(folder: Path, script: str, items: list[str]) -> list[Any]:
    done = subprocess.run(["node", str(folder / script)], input=json.dumps(items),
                          capture_output=True, text=True, timeout=120, cwd=folder)
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def mermaid_parse(folder: Path, diagrams: list[str]) -> list[dict[str, Any]]:
    """Mermaid's own parser's verdict on each diagram text (without the ``` fence)."""
    return _node(folder, "parse.mjs", diagrams)


def markdown_html(folder: Path, texts: list[str]) -> list[str]:
    return _node(folder, "markdown.mjs", texts)
