#!/usr/bin/env python3
"""Measure the GitHub side of kfops and write benchmarks/results_github.json.

(a) Requests per command: a `/build_run` against the fake GitHub (tests/fakes/fake_github.py),
    making the calls in the dispatcher's order (tests/fakes/github_flow.py). Counted up to the
    run's start, polling excluded. Target: at most 6. GITHUB_TOKEN has 1,000 requests an hour per
    repository, shared by every command and workflow using it.
(b) Rendering and splitting a long log: `render()` of a report holding the whole log, then
    `split_body()` at GitHub's 65,536 characters, at 0.5, 1, 2 and 5 MB. Target: under 100 ms for
    5 MB, and linear (the time per MB at 5 MB within 1.5x of the time per MB at 0.5 MB).
    Scrubbing the same text is timed too (not part of the target).

Timings are the median of --repeat runs in this process (after one warm-up). The script exits 0
when everything ran, printing MISSED for a target not met: it is a measurement, not a test.

Usage: .venv/bin/python benchmarks/bench_github.py [--repeat 7] [--output FILE]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fake GitHub and the flow live with the tests

from fakes.fake_github import FakeGitHub  # noqa: E402
from fakes.github_flow import build_run  # noqa: E402

from kfops_action.github.client import GitHubClient  # noqa: E402
from kfops_action.github.refs import Repo  # noqa: E402
from kfops_action.github.render import LogBlock, Param, Report, render  # noqa: E402
from kfops_action.github.repo import GitHubRepo  # noqa: E402
from kfops_action.github.scrub import Scrubber  # noqa: E402
from kfops_action.github.splitting import GITHUB_LIMIT, split_body  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results_github.json"
TOKEN = "ghs_benchTokenBenchToken0000111122223333"
REQUESTS_TARGET = 6
SPLIT_TARGET_MS = 100.0
LINEARITY_TARGET = 1.5
SIZES_MB = (0.5, 1.0, 2.0, 5.0)


def count_requests() -> dict[str, Any]:
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_pull(7, head_sha="3f2a9c1d0b4e5f60718293a4b5c6d7e8f9012345")
        fake.set_permission("alice", "write")
        comment = fake.add_comment(7, "/build_run")
        client = GitHubClient(TOKEN, api_url=fake.url, sleep=lambda s: None)
        repo = GitHubRepo(client, Repo(fake.owner, fake.repo), scrubber=Scrubber([TOKEN]), log=lambda m: None)
        from kfops_action.github.render import Task

        polls = [[Task("train", s)] for s in ("PENDING", "RUNNING", "RUNNING", "SUCCEEDED")]
        counts = build_run(repo, pr=7, comment_id=comment, actor="alice", polls=polls, env={},
                           monotonic=lambda: 0.0, log=lambda m: None)
        routes = [f"{r.method} {r.path.split('/model', 1)[-1] or '/'}" for r in fake.requests]
    return {
        "until_run_started": counts.until_started,
        "polling": counts.polling,
        "whole_command": counts.total,
        "target_until_run_started": REQUESTS_TARGET,
        "met": counts.until_started <= REQUESTS_TARGET,
        "requests": routes,
    }


def make_log(size: int) -> str:
    """A training log of about `size` characters, with the markup a log can hold."""
    lines = []
    total = 0
    i = 0
    while total < size:
        if i % 997 == 0:
            line = "```python\nprint('a fenced block inside the log')\n```"
        elif i % 1499 == 0:
            line = "<details> in a log line </details>"
        else:
            line = f"2025-01-06T09:{i // 3600 % 60:02d}:{i % 60:02d}Z INFO step={i} loss=0.{i % 9973:04d} acc=0.{i % 991:03d}"
        lines.append(line)
        total += len(line) + 1
        i += 1
    return "\n".join(lines) + "\n"


def _median_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float]]:
    fn()  # warm-up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), samples


def time_render_split(repeat: int) -> dict[str, Any]:
    rows = []
    scrubber = Scrubber([TOKEN, "kfp-bench-secret-value", "authservice_session=benchcookie123"])
    for mb in SIZES_MB:
        log = make_log(int(mb * 1_000_000))
        report = Report("/build_run", "failed", actor="alice", sha="3f2a9c1d0b4e5f60718293a4b5c6d7e8f9012345",
                        run_url="https://kubeflow.example.invalid/#/runs/details/r1",
                        parameters=[Param("learning_rate", 0.01, True)], logs=[LogBlock("Run log", log)])
        parts: list[str] = []

        def render_split() -> None:
            parts[:] = split_body(render(report, log_chars=None))

        ms, samples = _median_ms(render_split, repeat)
        scrub_ms, _ = _median_ms(lambda: scrubber.scrub(log), max(3, repeat // 2))
        assert all(len(p) <= GITHUB_LIMIT for p in parts)
        rows.append({"log_mb": mb, "characters": len(log), "render_split_ms": round(ms, 2),
                     "ms_per_mb": round(ms / mb, 2), "parts": len(parts), "scrub_ms": round(scrub_ms, 2),
                     "samples_ms": [round(s, 2) for s in samples]})
    small, large = rows[0], rows[-1]
    linearity = large["ms_per_mb"] / small["ms_per_mb"]
    return {
        "rows": rows,
        "five_mb_ms": large["render_split_ms"],
        "target_ms": SPLIT_TARGET_MS,
        "linearity_ratio": round(linearity, 3),
        "linearity_target": LINEARITY_TARGET,
        "met": large["render_split_ms"] < SPLIT_TARGET_MS and linearity <= LINEARITY_TARGET,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    requests = count_requests()
    split = time_render_split(args.repeat)
    results = {
        "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "requests_per_build_run": requests,
        "render_split_log": split,
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    mark = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    print(f"/build_run requests until the run starts: {requests['until_run_started']} "
          f"(target <= {REQUESTS_TARGET}: {mark(requests['met'])}); polling {requests['polling']}, "
          f"whole command {requests['whole_command']}")
    print(f"{'log':>7} {'render+split':>13} {'per MB':>9} {'parts':>6} {'scrub':>9}")
    for row in split["rows"]:
        print(f"{row['log_mb']:>5.1f}MB {row['render_split_ms']:>11.1f}ms {row['ms_per_mb']:>7.1f}ms "
              f"{row['parts']:>6} {row['scrub_ms']:>7.1f}ms")
    print(f"5 MB: {split['five_mb_ms']:.1f} ms (target < {SPLIT_TARGET_MS:g} ms); per-MB ratio 5 MB / 0.5 MB "
          f"{split['linearity_ratio']:.2f} (target <= {LINEARITY_TARGET:g}): {mark(split['met'])}")
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
