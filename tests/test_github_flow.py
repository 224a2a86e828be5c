"""A whole `/build_run` as the PR sees it: few requests, one status comment, one final report
even when GitHub fails on the way, the job summary written, no secret anywhere."""

from __future__ import annotations

from pathlib import Path

from fakes.github_flow import build_run
from fakes.github_prism import GITHUB_TOKEN, GitHubEndpoint, github  # noqa: F401

from kfops_action.github.render import Task

PR = 7
SHA = "3f2a9c1d0b4e5f60718293a4b5c6d7e8f9012345"


def _seed(github: GitHubEndpoint) -> int:
    github.fake.add_pull(PR, head_sha=SHA)
    github.fake.set_permission("alice", "write")
    return github.fake.add_comment(PR, "/build_run --set pipeline.parameters.learning_rate=0.01")


def _polls() -> list[list[Task]]:
    return [[Task("train", state)] for state in ("PENDING", "RUNNING", "RUNNING", "SUCCEEDED")]


def test_build_run_costs_at_most_six_requests_until_the_run_starts(github: GitHubEndpoint, tmp_path: Path) -> None:
    comment = _seed(github)
    clock = [0.0]
    logs: list[str] = []
    counts = build_run(github.repo(), pr=PR, comment_id=comment, actor="alice", polls=_polls(),
                       env={"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}, monotonic=lambda: clock[0],
                       log=logs.append)
    assert counts.until_started <= 6
    assert counts.polling == 0  # task changes within min_interval are held, not sent
    assert counts.total == counts.until_started + 3
    bot = [c for c in github.fake.comments_on(PR) if c["_login"] == github.fake.bot_login]
    assert len(bot) == 1
    final = bot[0]["body"]
    assert "`/build_run` succeeded on 3f2a9c1d0b4e for @alice" in final
    assert "| `train` | succeeded |  |" in final
    assert "| `learning_rate` | `0.01` | yes |" in final
    assert github.fake.statuses[SHA][0]["state"] == "success"
    assert [r["content"] for r in github.fake.reactions[comment]] == ["eyes", "rocket"]
    assert "succeeded" in (tmp_path / "summary.md").read_text()
    assert logs[-1].startswith("GitHub API: 7 requests (2 reads, 5 writes")  # the count, in the job log


def test_final_report_exactly_once_through_faults_everywhere(github: GitHubEndpoint, tmp_path: Path) -> None:
    comment = _seed(github)
    fake = github.fake
    fake.inject("GET", r"/permission$", "503")
    fake.inject("POST", r"/reactions$", "reset")
    fake.inject("POST", r"/issues/7/comments$", "502-after")
    fake.inject("PATCH", r"/issues/comments/\d+$", "429-retry-after", seconds=3)
    fake.inject("POST", r"/statuses/", "403-secondary")
    fake.inject("PATCH", r"/issues/comments/\d+$", "reset-after", times=1)
    logs: list[str] = []
    counts = build_run(github.repo(), pr=PR, comment_id=comment, actor="alice", polls=_polls(),
                       env={"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}, log=logs.append)
    bot = [c for c in fake.comments_on(PR) if c["_login"] == fake.bot_login]
    assert len(bot) == 1, [c["body"][:80] for c in bot]
    assert "`/build_run` succeeded" in bot[0]["body"]
    assert [r["content"] for r in fake.reactions[comment]] == ["eyes", "rocket"]
    assert counts.report.comment.client.stats.retries >= 5
    assert "retrying" in "\n".join(github.logs)


def test_no_token_in_anything_posted_or_logged(github: GitHubEndpoint, tmp_path: Path) -> None:
    comment = _seed(github)
    github.fake.inject("POST", r"/issues/7/comments$", "502")
    logs: list[str] = []
    repo = github.repo()
    counts = build_run(repo, pr=PR, comment_id=comment, actor="alice", polls=_polls(), final_state="failed",
                       env={"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}, log=logs.append)
    report = counts.report
    report.warning(f"push to registry used token {GITHUB_TOKEN}")
    report.progress(f"git clone https://x-access-token:{GITHUB_TOKEN}@github.example.invalid/o/r")
    report.finish("failed", errors=[])
    posted = [str(r.body) for r in github.fake.requests if r.body is not None]
    everything = posted + logs + github.logs + [(tmp_path / "summary.md").read_text(), repo.summary()]
    assert all(GITHUB_TOKEN not in text for text in everything)
    assert any("used token ***" in text for text in posted)
