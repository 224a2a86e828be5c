"""A model of the GitHub calls of one `/build_run` (the real dispatcher's are measured by
benchmarks/bench_action.py through tests/fakes/action_flow.py: it also reads kfops.yaml on the base
branch, the activity log of the PR's branch (the head when the comment was written) and the PR's
status comments, and sends the pending status after the run started).

Used by tests/test_github_flow.py and benchmarks/bench_github.py to count requests per command.
Up to the run's start (target: at most 6):

    1 GET   collaborators/{actor}/permission   authorize (role_name)
    2 GET   pulls/{n}                          pin the head SHA
    3 POST  reactions (eyes)                   the commenter sees it was picked up
    4 POST  issue comment                      the status comment, created at "building"
      ...   build, upload, start: progress goes to the job log, not to GitHub
    5 PATCH issue comment                      "running", run link, parameters
    6 POST  statuses/{sha} kfops/run pending   the PR's checks show the run

Polling the run costs nothing on GitHub: task changes go through the throttled `update(force=False)`
and are sent at most once per `min_interval`. The end costs 3: PATCH (final report), POST status
(success/failure), POST reaction (rocket/confused).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kfops_action.github.render import Param, Report, Task
from kfops_action.github.reporter import PullRequestReport
from kfops_action.github.repo import GitHubRepo
from kfops_action.github.statuses import RUN_CONTEXT


@dataclass
class FlowCounts:
    until_started: int
    polling: int
    total: int
    report: PullRequestReport


def build_run(repo: GitHubRepo, *, pr: int, comment_id: int, actor: str,
              polls: Sequence[Sequence[Task]] = (), final_state: str = "succeeded",
              env: Mapping[str, str] | None = None, monotonic: Callable[[], float] | None = None,
              log: Callable[[str], None] | None = None) -> FlowCounts:
    stats = repo.client.stats
    repo.get_permission(actor)
    sha = repo.get_pull(pr)["head"]["sha"]
    repo.add_reaction(comment_id, "eyes")
    options = {"monotonic": monotonic} if monotonic is not None else {}
    status = repo.status_comment(pr, str(comment_id), **options)
    report = PullRequestReport(status, Report("/build_run", "building", actor=actor, sha=sha), log=log, env=env)
    report.update()
    report.progress("building images, compiling, uploading the pipeline version")
    run_url = "https://kubeflow.example.invalid/#/runs/details/run-1"
    report.update(state="running", run_name="model-3f2a9c1-pr7", run_url=run_url,
                  parameters=[Param("learning_rate", 0.01, True), Param("epochs", 5)],
                  durations=[("build", 41.0)])
    repo.set_status(sha, context=RUN_CONTEXT, state="pending", description="run started", target_url=run_url)
    until_started = stats.requests
    for tasks in polls:
        report.update(force=False, tasks=tuple(tasks))
    polling = stats.requests - until_started
    report.finish(final_state, tasks=tuple(polls[-1]) if polls else ())
    repo.set_status(sha, context=RUN_CONTEXT, state="success" if final_state == "succeeded" else "failure",
                    description=f"run {final_state}", target_url=run_url)
    repo.add_reaction(comment_id, "rocket" if final_state == "succeeded" else "confused")
    return FlowCounts(until_started, polling, stats.requests, report)
