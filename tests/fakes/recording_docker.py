"""A recording `docker` executable for tests of the docker builder (no Docker engine here).

`RecordingDocker.install(bin_dir)` writes an executable named `docker` that runs `main()` below.
Every invocation appends one JSON line to `calls.jsonl`: its argv, how many bytes it read on
stdin and their sha256 (so a test can check that a password went through stdin without the
recorder keeping it), and its start and end times (so a test can check that builds overlapped).

What it answers comes from `rules.json`, a list tried in order; the first rule whose `when`
strings all occur in the space-joined argv decides:

    {"when": ["imagetools", "inspect", ":inputs-"], "exit": 1, "output": "ERROR: not found"}
    {"when": ["buildx", "build", "trainer"], "digest": "sha256:...", "sleep": 0.3}

`exit` (default 0) and `output` (printed to stderr when exit != 0, else stdout); `digest` makes a
build write `{"containerimage.digest": digest}` to the file after `--metadata-file`; `sleep` holds
the call that long. No rule matching: exit 0, no output.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

DIR_ENV = "RECORDING_DOCKER_DIR"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    start = time.time()
    state = Path(os.environ[DIR_ENV])
    data = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    rules: list[dict[str, Any]] = json.loads((state / "rules.json").read_text()) if (state / "rules.json").exists() else []
    joined = " ".join(args)
    rule = next((r for r in rules if all(w in joined for w in r.get("when", []))), {})
    if rule.get("sleep"):
        time.sleep(float(rule["sleep"]))
    if rule.get("digest") and "--metadata-file" in args:
        target = Path(args[args.index("--metadata-file") + 1])
        target.write_text(json.dumps({"containerimage.digest": rule["digest"],
                                      "image.name": ",".join(a for i, a in enumerate(args) if i and args[i - 1] == "--tag")}))
    code = int(rule.get("exit", 0))
    record = {"argv": args, "stdin_bytes": len(data), "stdin_sha256": hashlib.sha256(data).hexdigest() if data else None,
              "start": start, "end": time.time(), "exit": code}
    with open(state / "calls.jsonl", "a", encoding="utf-8") as log:
        fcntl.flock(log, fcntl.LOCK_EX)
        log.write(json.dumps(record) + "\n")
    if rule.get("output"):
        print(rule["output"], file=sys.stderr if code else sys.stdout)
    return code


class RecordingDocker:
    """The state folder of one recording docker: set its rules, read its calls."""

    def __init__(self, state: Path) -> None:
        self.state = state
        state.mkdir(parents=True, exist_ok=True)

    def install(self, bin_dir: Path) -> Path:
        bin_dir.mkdir(parents=True, exist_ok=True)
        exe = bin_dir / "docker"
        exe.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                       "from recording_docker import main\nsys.exit(main())\n")
        exe.chmod(0o755)
        return exe

    def rules(self, *rules: dict[str, Any]) -> None:
        (self.state / "rules.json").write_text(json.dumps(list(rules)))

    def calls(self) -> list[dict[str, Any]]:
        path = self.state / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def argvs(self) -> list[list[str]]:
        return [c["argv"] for c in self.calls()]


if __name__ == "__main__":
    sys.exit(main())
