#!/usr/bin/env python3
"""Measure the Action as it is installed, and write benchmarks/results_action.json.

Its keys (bench_action_startup, time_to_acknowledge, installed_size) are merged into the file:
bench_action.py writes others there.

(a) Time to acknowledge: from the start of the `kfops-action` process (the console script of a
    fresh environment installed from requirements/action.lock.txt, as the action's `runtime:
    python` and the Docker image install it) to the moment its eyes-reaction request reaches the
    fake GitHub (tests/fakes/fake_github.py, in this process). The event is a real issue_comment
    payload shape with `/help`; the process then finishes its answer. Target: under 0.4 s, i.e.
    nothing heavy (kfp, kubernetes, jsonschema, yaml) is imported before the acknowledgement.
(b) Installed size of the Action's dependencies: that same fresh environment, without kserve.
    Target: at most 150 MB (MiB here), met when both the files' sizes and their disk usage (du)
    are within it. Also reported without pip and setuptools (which the Docker image leaves out),
    with the largest packages.

The environment is made by scripts/install-action-python.py in a temporary folder (or reused from
--cache DIR), with pip's cache: the first run needs PyPI or a warm pip cache. Timings: one
untimed warm-up, then the median of --repeat fresh processes. Exits 0 when everything ran,
printing MISSED for a target not met: a measurement, not a test.

Usage: .venv/bin/python benchmarks/bench_action_startup.py [--repeat 9] [--cache DIR] [--output FILE]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fake GitHub lives with the tests

from fakes.fake_github import FakeGitHub  # noqa: E402

TOKEN = "ghs_kfopsBenchToken000011112222333344445555"
ACK_TARGET_S = 0.4
SIZE_TARGET_MIB = 150.0
HEAD = "3f2a9c1d0b4e5f60718293a4b5c6d7e8f9012345"


class TimedRequests(list):  # type: ignore[type-arg]
    """FakeGitHub.requests, noting when each request arrived; `acked` is set by the first eyes
    reaction."""

    def __init__(self) -> None:
        super().__init__()
        self.acked = threading.Event()
        self.ack_at: float | None = None

    def append(self, record: Any) -> None:
        now = time.perf_counter()
        super().append(record)
        if record.method == "POST" and record.path.endswith("/reactions") and self.ack_at is None:
            self.ack_at = now
            self.acked.set()


def install(cache: Path) -> Path:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "install-action-python.py"), str(cache)],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"installing the action's environment failed:\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def event(fake: FakeGitHub, comment_id: int) -> dict[str, Any]:
    repo = fake.repository_json(full=False)
    user = fake.user_json("alice")
    return {
        "action": "created",
        "issue": {"number": 7, "state": "open", "title": "Tune", "user": user,
                  "pull_request": {"url": f"{fake.repo_api}/pulls/7"}},
        "comment": {"id": comment_id, "body": "/help", "user": user, "created_at": "2025-01-06T09:00:00Z",
                    "html_url": f"{fake.web}/{fake.owner}/{fake.repo}/pull/7#issuecomment-{comment_id}"},
        "repository": repo, "sender": user,
    }


def time_ack(bin_dir: Path, fake: FakeGitHub, scratch: Path) -> dict[str, Any]:
    fake.reset()
    fake.add_pull(7, head_sha=HEAD)
    fake.set_permission("alice", "write")
    fake.add_file("kfops.yaml", (ROOT / "examples" / "quickstart" / "kfops.yaml").read_text(), ref="main")
    comment_id = fake.add_comment(7, "/help", user="alice")
    timed = TimedRequests()
    fake.requests = timed
    path = scratch / "event.json"
    path.write_text(json.dumps(event(fake, comment_id)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "KF_PIPELINES"))}
    env.update(GITHUB_EVENT_NAME="issue_comment", GITHUB_EVENT_PATH=str(path), GITHUB_API_URL=fake.url,
               GITHUB_REPOSITORY=f"{fake.owner}/{fake.repo}", GITHUB_WORKSPACE=str(scratch),
               GITHUB_OUTPUT=str(scratch / "output"), GITHUB_STEP_SUMMARY=str(scratch / "summary"),
               GITHUB_ACTIONS="true", **{"INPUT_GITHUB-TOKEN": TOKEN})
    start = time.perf_counter()
    process = subprocess.Popen([str(bin_dir / "kfops-action")], env=env, cwd=scratch, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    timed.acked.wait(60)
    out, err = process.communicate(timeout=120)
    end = time.perf_counter()
    if timed.ack_at is None or process.returncode != 0:
        raise SystemExit(f"kfops-action did not acknowledge (exit {process.returncode}):\n{err[-3000:]}")
    return {"ack_s": timed.ack_at - start, "total_s": end - start, "requests": len(timed)}


def sizes(env_dir: Path) -> dict[str, Any]:
    def size(path: Path) -> int:
        if path.is_file() and not path.is_symlink():
            return path.stat().st_size
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())

    [site] = list(env_dir.glob("lib/python*/site-packages"))
    packages: dict[str, int] = {}
    for entry in site.iterdir():
        name = entry.name.split("-")[0].removesuffix(".py").lower() if entry.name.endswith(
            (".dist-info", ".py", ".pth")) else entry.name.lower()
        packages[name] = packages.get(name, 0) + size(entry)
    tools = sum(v for k, v in packages.items() if k in ("pip", "setuptools", "_distutils_hack", "pkg_resources",
                                                         "distutils-precedence"))
    total = size(env_dir)
    blocks = sum(p.lstat().st_blocks * 512 for p in env_dir.rglob("*"))
    mib = 1024 * 1024
    return {
        "environment_mib": round(total / mib, 1),
        "environment_disk_usage_mib": round(blocks / mib, 1),
        "without_pip_setuptools_mib": round((total - tools) / mib, 1),
        "largest_packages_mib": {k: round(v / mib, 1) for k, v in
                                 sorted(packages.items(), key=lambda kv: -kv[1])[:12]},
        "kserve_installed": any(k.startswith("kserve") for k in packages),
        "target_mib": SIZE_TARGET_MIB,
        "met": max(total, blocks) / mib <= SIZE_TARGET_MIB,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--cache", type=Path, help="tool-cache folder to install into / reuse")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results_action.json")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="kfops-bench-action-") as tmp:
        cache = args.cache or Path(tmp) / "tool-cache"
        t0 = time.perf_counter()
        bin_dir = install(cache)
        install_s = time.perf_counter() - t0
        scratch = Path(tmp) / "job"
        scratch.mkdir()
        with FakeGitHub(token=TOKEN) as fake:
            time_ack(bin_dir, fake, scratch)  # warm-up: page cache, .pyc
            samples = [time_ack(bin_dir, fake, scratch) for _ in range(args.repeat)]
        size = sizes(bin_dir.parent)

    acks = [s["ack_s"] for s in samples]
    ack = {
        "median_s": round(statistics.median(acks), 4), "min_s": round(min(acks), 4), "max_s": round(max(acks), 4),
        "whole_help_median_s": round(statistics.median(s["total_s"] for s in samples), 4),
        "samples_s": [round(a, 4) for a in acks], "target_s": ACK_TARGET_S,
        "met": statistics.median(acks) < ACK_TARGET_S,
    }
    ours = {
        "bench_action_startup": {
            "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "repeat": args.repeat, "install_seconds": round(install_s, 1) if args.cache is None else None},
        "time_to_acknowledge": ack,
        "installed_size": size,
    }
    # bench_action.py writes its own keys to the same file: keep them.
    try:
        results = json.loads(args.output.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        results = {}
    results = {**(results if isinstance(results, dict) else {}), **ours}
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    verdict = lambda met: "met" if met else "MISSED"  # noqa: E731
    print(f"time to acknowledge (eyes reaction at the fake GitHub): median {ack['median_s'] * 1000:.0f} ms "
          f"(min {ack['min_s'] * 1000:.0f}, max {ack['max_s'] * 1000:.0f}) over {len(acks)} runs; "
          f"target < {ACK_TARGET_S * 1000:.0f} ms: {verdict(ack['met'])}")
    print(f"installed size: {size['environment_mib']} MiB environment ({size['environment_disk_usage_mib']} MiB on "
          f"disk), {size['without_pip_setuptools_mib']} MiB without pip/setuptools; target <= "
          f"{SIZE_TARGET_MIB:.0f} MiB: {verdict(size['met'])}")
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
