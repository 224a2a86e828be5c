#!/usr/bin/env python3
"""Measure the Action's own costs and write benchmarks/results_action.json.

(a) Comment to "run started": a fresh `python -m kfops_action` process handles a `/build_run`
    comment against the loopback fakes (tests/fakes/fake_github.py, tests/fakes/fake_kfp.py) in
    a git checkout of examples/quickstart: acknowledge, read the PR and the base branch's
    kfops.yaml, authorize, check for an active run, create the status comment, compile the
    pipeline with the real kfp compiler, upload it, start the run, and edit the status comment to
    "running" with the run's link. Measured from the process's start to the moment the fake
    GitHub receives that edit. Remote work is the fakes' (loopback, milliseconds), so what is
    measured is the Action's own: Python start-up and imports, compiling, and the pacing of
    GitHub writes (the client spaces content-creating requests >= 1 s apart, as GitHub asks).
    Target: under 3 s (median of --repeat).
(b) GitHub requests per hour of following a run: `follow` (chatops/tracking.py) with the real
    status comment and GitHub client against the fake GitHub, and a scripted KFP (no HTTP) on a
    fake clock, over --hours of run. Worst case: the task states change on every KFP read; and a
    plain training run: one task change an hour. Target: under 60 requests an hour (worst case,
    every hour, the first included). KFP reads per hour are shown too: they cost no GitHub request.

Its keys are merged into the file (bench_action_startup.py writes others there). The script exits
0 when everything ran, printing MISSED for a target not met: it is a
measurement, not a test. Usage:

    .venv/bin/python benchmarks/bench_action.py [--repeat 5] [--hours 6] [--output FILE]
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
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fakes live with the tests

from fakes.action_flow import base_text, make_checkout  # noqa: E402
from fakes.fake_github import FakeGitHub  # noqa: E402
from fakes.fake_kfp import FakeKfp  # noqa: E402

from kfops_action import __version__  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results_action.json"
GITHUB_TOKEN = "ghs_benchTokenBenchToken0000111122223333"
KFP_TOKEN = "kfp-bench-token-0001"
STARTED_TARGET_S = 3.0
PER_HOUR_TARGET = 60


# -- (a) comment to "run started" ----------------------------------------------------------------


def _seed(gh: FakeGitHub, kfp: FakeKfp, head: str) -> int:
    gh.reset()
    kfp.reset()
    kfp.run_states = ["PENDING", "RUNNING"]
    gh.add_pull(7, head_sha=head)
    gh.set_permission("alice", "write")
    gh.add_file("kfops.yaml", base_text(kfp.url))
    return gh.add_comment(7, "/build_run --set pipeline.parameters.epochs=5")


def one_comment(gh: FakeGitHub, kfp: FakeKfp, repo: Path, head: str, tmp: Path) -> dict[str, Any]:
    comment_id = _seed(gh, kfp, head)
    body = gh.comments[comment_id]["body"]
    event = {"action": "created",
             "issue": {"number": 7, "state": "open", "pull_request": {"url": f"{gh.repo_api}/pulls/7"}},
             "comment": {"id": comment_id, "body": body, "user": {"login": "alice", "type": "User"},
                         "created_at": gh.comments[comment_id]["created_at"]},
             "repository": {"full_name": f"{gh.owner}/{gh.repo}", "default_branch": "main"}}
    (tmp / "event.json").write_text(json.dumps(event))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "KF_PIPELINES"))}
    env.update({"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(tmp / "event.json"),
                "GITHUB_REPOSITORY": f"{gh.owner}/{gh.repo}", "GITHUB_API_URL": gh.url, "GITHUB_WORKSPACE": str(repo),
                "INPUT_GITHUB-TOKEN": GITHUB_TOKEN, "KF_PIPELINES_TOKEN": KFP_TOKEN,
                "INPUT_FOLLOW-MINUTES": "0"})  # hand over at once: (a) is about the start
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "kfops_action"], env=env, cwd=repo, capture_output=True,
                            text=True, timeout=300)
    end = time.monotonic()
    if result.returncode != 0:
        raise RuntimeError(f"kfops-action failed ({result.returncode}):\n{result.stderr}")
    key = f"kfops:status key={comment_id} "

    def first(predicate: Any) -> float | None:
        times = [r.at - start for r in gh.requests if predicate(r)]
        return min(times) if times else None

    def status_body(r: Any) -> str:
        return str(r.body.get("body", "")) if isinstance(r.body, dict) else ""

    milestones = {
        "acknowledged": first(lambda r: r.path.endswith("/reactions")),
        "status_comment": first(lambda r: r.method == "POST" and key in status_body(r)[:200]),
        "run_created_in_kfp": min((r.at - start for r in kfp.requests
                                   if r.method == "POST" and r.path.endswith("/runs")), default=None),
        "run_started_in_pr": first(lambda r: r.method == "PATCH" and "`/build_run` running" in status_body(r)),
    }
    before = [r for r in gh.requests if milestones["run_started_in_pr"] is not None
              and r.at - start <= milestones["run_started_in_pr"]]
    writes = [r.at - start for r in before if r.method != "GET"]
    return {"seconds": milestones["run_started_in_pr"], "milestones": milestones, "process_seconds": end - start,
            "github_requests_until_started": len(before), "github_requests_total": len(gh.requests),
            # consecutive writes about 1 s apart: the gap was the client's pacing, not work
            "pacing_bound_gaps": sum(1 for a, b in zip(writes, writes[1:]) if 0.95 <= b - a <= 1.1)}


def comment_to_run_started(repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kfops-bench-") as folder:
        tmp = Path(folder)
        repo, head = make_checkout(tmp)
        samples = []
        with FakeGitHub(token=GITHUB_TOKEN) as gh, FakeKfp(token=KFP_TOKEN) as kfp:
            one_comment(gh, kfp, repo, head, tmp)  # warm-up: .pyc files, page cache
            for _ in range(repeat):
                samples.append(one_comment(gh, kfp, repo, head, tmp))
    seconds = statistics.median(s["seconds"] for s in samples)
    milestones = {name: round(statistics.median(s["milestones"][name] for s in samples), 3)
                  for name in samples[0]["milestones"]}
    return {"median_seconds": round(seconds, 3), "target_seconds": STARTED_TARGET_S,
            "met": seconds < STARTED_TARGET_S, "median_milestones": milestones,
            "github_requests_until_started": samples[0]["github_requests_until_started"],
            "github_write_gaps_set_by_pacing": samples[0]["pacing_bound_gaps"],
            "samples": samples}


# -- (b) GitHub requests per hour of following ---------------------------------------------------


class ScriptedKfp:
    """KFP's get_run without HTTP: RUNNING for `hours`, tasks changing as the scenario says."""

    def __init__(self, clock: Any, hours: float, change_every: float | None) -> None:
        self.clock, self.end, self.change_every = clock, clock() + hours * 3600, change_every
        self.start = clock()
        self.reads = 0

    def get_run(self, run_id: str) -> Any:
        from kfops_action.kubeflow.remote import RunStatus, TaskState

        self.reads += 1
        now = self.clock()
        if self.change_every is None:        # worst case: something changes on every read
            step = self.reads
        else:
            step = int((now - self.start) // self.change_every)
        tasks = tuple(TaskState(f"step-{i}", "SUCCEEDED" if i < step % 7 else "RUNNING") for i in range(7))
        tasks += (TaskState("progress", f"RUNNING-{step}"),) if self.change_every is None else ()
        state = "RUNNING" if now < self.end else "SUCCEEDED"
        return RunStatus(run_id, state, None, None, None, tasks)

    def run_url(self, run_id: str) -> str:
        return f"https://kubeflow.invalid/#/runs/details/{run_id}"


def following(hours: float, change_every: float | None) -> dict[str, Any]:
    from kfops_action.chatops.runs import RunRecord, report_fields
    from kfops_action.chatops.tracking import FollowPolicy, follow
    from kfops_action.github.client import GitHubClient
    from kfops_action.github.refs import Repo
    from kfops_action.github.render import Report
    from kfops_action.github.reporter import PullRequestReport
    from kfops_action.github.repo import GitHubRepo
    from kfops_action.github.scrub import Scrubber

    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

        def sleep(self, seconds: float) -> None:
            self.now += seconds

    clock = Clock()
    with FakeGitHub(token=GITHUB_TOKEN) as gh:
        gh.add_pull(7, head_sha="3" * 40)
        client = GitHubClient(GITHUB_TOKEN, api_url=gh.url, sleep=lambda s: None)
        repo = GitHubRepo(client, Repo(gh.owner, gh.repo), scrubber=Scrubber([GITHUB_TOKEN]), log=lambda m: None)
        run = RunRecord(key="1001", command="build_run", pr=7, requested_by="alice", sha="3" * 40, run_id="run-1",
                        run_name="bench", run_url="https://kubeflow.invalid/#/runs/details/run-1")
        report = PullRequestReport(repo.status_comment(7, "1001", monotonic=clock),
                                   Report("/build_run", "running"), log=lambda m: None, summary=lambda: "")
        report.update(**report_fields(run))
        kfp = ScriptedKfp(clock, hours, change_every)
        hour_marks: list[int] = []

        def show(current: Any, status: Any) -> None:
            report.update(**report_fields(current, status))

        def sleep(seconds: float) -> None:  # note GitHub's count at each full hour of fake time
            before = clock.now
            clock.sleep(seconds)
            for _ in range(int(clock.now // 3600) - int(before // 3600)):
                hour_marks.append(client.stats.requests)

        base = client.stats.requests
        policy = FollowPolicy(minutes=hours * 60 + 60)
        result = follow(kfp, run, show, policy=policy, clock=clock, sleep=sleep)
        followed_hours = clock.now / 3600
        total = client.stats.requests - base
    per_hour, previous = [], base
    for mark in hour_marks:
        per_hour.append(mark - previous)
        previous = mark
    return {"hours": round(followed_hours, 2), "github_requests": total, "per_hour": per_hour,
            "max_per_hour": max(per_hour) if per_hour else total,
            "mean_per_hour": round(total / followed_hours, 1), "kfp_reads": kfp.reads,
            "kfp_reads_per_hour": round(kfp.reads / followed_hours, 1), "ended": result.run.state}


def following_cost(hours: float) -> dict[str, Any]:
    worst = following(hours, None)
    plain = following(hours, 3600.0)
    return {"worst_case": worst, "one_task_change_an_hour": plain, "target_per_hour": PER_HOUR_TARGET,
            "met": worst["max_per_hour"] < PER_HOUR_TARGET and plain["max_per_hour"] < PER_HOUR_TARGET}


# -- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    started = comment_to_run_started(args.repeat)
    cost = following_cost(args.hours)
    ours = {
        "bench_action": {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                         "kfops": __version__, "python": platform.python_version(),
                         "platform": platform.platform(), "cpus": os.cpu_count(), "repeat": args.repeat},
        "comment_to_run_started": started, "github_requests_per_hour_following": cost,
    }
    # bench_action_startup.py writes its own keys to the same file: keep them.
    try:
        results = json.loads(args.output.read_text())
    except (OSError, ValueError):
        results = {}
    results = {**(results if isinstance(results, dict) else {}), **ours}
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    m = started["median_milestones"]
    print(f"comment -> run started: {started['median_seconds']:.2f} s median (target < {STARTED_TARGET_S:g} s) "
          f"{'ok' if started['met'] else 'MISSED'}")
    print(f"  acknowledged {m['acknowledged']:.2f} s, status comment {m['status_comment']:.2f} s, "
          f"run created in KFP {m['run_created_in_kfp']:.2f} s, shown in the PR {m['run_started_in_pr']:.2f} s; "
          f"{started['github_requests_until_started']} GitHub requests, "
          f"{started['github_write_gaps_set_by_pacing']} write gaps set by the 1 s pacing")
    for name, data in (("worst case", cost["worst_case"]), ("one task change an hour", cost["one_task_change_an_hour"])):
        print(f"following, {name}: {data['max_per_hour']} GitHub requests in the busiest hour, "
              f"{data['mean_per_hour']}/h over {data['hours']} h (target < {PER_HOUR_TARGET}); "
              f"KFP read {data['kfp_reads_per_hour']}/h")
    print("following cost: " + ("ok" if cost["met"] else "MISSED"))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
