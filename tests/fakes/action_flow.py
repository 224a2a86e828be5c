"""A pull request the Action can be driven through, from a comment to its final report.

Pieces: the fake GitHub (tests/fakes/fake_github.py, reached directly or through Prism: the
`github` fixture's GitHubEndpoint), the fake KFP (direct or through Prism: `kfp_endpoint`), a git
checkout of examples/quickstart as the PR head, and a fake clock for following runs (the wait
loop's sleeps are instant; the fake KFP advances one scripted state per read).

`PullRequest.comment(body)` posts the comment on the fake GitHub and runs the dispatcher with the
real handlers exactly as `kfops-action` does (GitHubRepo, the base branch's kfops.yaml read through
the contents API), returning the Outcome. Used by tests/test_chatops_handlers.py and
benchmarks/bench_action.py.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfops_action.chatops.dispatch import Outcome, dispatch
from kfops_action.chatops.handlers import Workspace, command_handlers
from kfops_action.chatops.tracking import FollowPolicy
from kfops_action.github.render import state_marker
from kfops_action.github.status_comment import parse_header

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "quickstart"
NUMBER = 7


def git(*args: str, cwd: Path) -> str:
    out = subprocess.run(["git", "-c", "user.name=kfops-test", "-c", "user.email=test@kfops.invalid", *args],
                         cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def make_checkout(where: Path, edit: Callable[[Path], None] | None = None) -> tuple[Path, str]:
    """The example as a checked-out PR head: a git repository with one commit."""
    repo = where / "model"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".kfops", "__pycache__"))
    if edit is not None:
        edit(repo)
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "the PR head", cwd=repo)
    return repo, git("rev-parse", "HEAD", cwd=repo)


def base_text(endpoint: str) -> str:
    """kfops.yaml on the base branch: the example's, pointing at the (fake) Kubeflow."""
    return (EXAMPLE / "kfops.yaml").read_text().replace("https://kubeflow.example.com/pipeline", endpoint)


@dataclass
class Clock:
    """Monotonic time for following runs; `sleep` advances it (and calls `on_sleep`, a hook for
    changing the world while the Action waits)."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Callable[[float], None] | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(self.now)


class PullRequest:
    def __init__(self, github: Any, kfp_url: str, kfp_token: str, checkout: Path, head: str, *,
                 summary: Path, follow: FollowPolicy | None = None, base: str | None = None) -> None:
        self.github, self.fake = github, github.fake
        self.kfp_url, self.kfp_token = kfp_url, kfp_token
        self.checkout, self.head, self.summary = checkout, head, summary
        self.follow = follow or FollowPolicy(minutes=60, poll_seconds=10, max_poll_seconds=60)
        self.clock = Clock()
        self.logs: list[str] = []
        self.env: dict[str, str] = {"KF_PIPELINES_TOKEN": kfp_token}
        self.fake.add_pull(NUMBER, head_sha=head)
        self.fake.set_permission("alice", "write")
        self.fake.set_permission("bob", "write")
        self.fake.set_permission("rita", "read")
        self.fake.add_file("kfops.yaml", base if base is not None else base_text(kfp_url), ref="main")
        self.repo = github.repo()

    def payload(self, comment_id: int, body: str, user: str) -> dict[str, Any]:
        comment = self.fake.comments[comment_id]
        return {"action": "created",
                "issue": {"number": NUMBER, "state": "open", "title": "Improve the model",
                          "pull_request": {"url": f"{self.fake.repo_api}/pulls/{NUMBER}"}},
                "comment": {"id": comment_id, "body": body, "user": {"login": user, "type": "User"},
                            "created_at": comment["created_at"]},
                "repository": {"full_name": f"{self.fake.owner}/{self.fake.repo}", "default_branch": "main"}}

    def workspace(self, **changes: Any) -> Workspace:
        workspace = Workspace(root=self.checkout, env=dict(self.env), follow=self.follow, clock=self.clock,
                              sleep=self.clock.sleep)
        return dataclasses.replace(workspace, **changes)

    def comment(self, body: str, user: str = "alice", *, before_job: Callable[[], None] | None = None,
                **workspace: Any) -> Outcome:
        """`before_job` happens between the comment and the job that answers it (a push while the
        job waits in the queue)."""
        comment_id = self.fake.add_comment(NUMBER, body, user=user)
        self.last_comment = comment_id
        if before_job is not None:
            before_job()
        return dispatch("issue_comment", self.payload(comment_id, body, user), github=self.repo,
                        base_config=lambda ref: self.repo.get_file_text("kfops.yaml", ref),
                        handlers=command_handlers(self.workspace(**workspace)), scrubber=self.repo.scrubber,
                        env={"GITHUB_STEP_SUMMARY": str(self.summary)}, log=self.logs.append)

    def post_state(self, state: Mapping[str, Any], on: int = NUMBER) -> None:
        """A status comment holding `state`, written as the action's identity (github-actions[bot]),
        as the action writes its records, and as any workflow of the repository holding
        GITHUB_TOKEN can (tests/test_security_state.py)."""
        key = str(state.get("key") or 900000 + len(self.fake.comments))
        self.fake.add_comment(on, f"<!-- kfops --><!-- kfops:status key={key} part=1/1 -->\n{state_marker(state)}",
                              user=self.fake.bot_login, user_type="Bot")

    # -- what the PR shows ------------------------------------------------------------------------

    def bot_comments(self) -> list[dict[str, Any]]:
        return [c for c in self.fake.comments_on(NUMBER) if c["_login"] == self.fake.bot_login]

    def status_of(self, comment_id: int | None = None) -> str:
        """The status comment of an invocation (default: the last comment's), all parts joined."""
        key = str(comment_id or self.last_comment)
        parts = [c["body"] for c in self.bot_comments() if (parse_header(c["body"]) or ("",))[0] == key]
        assert parts, f"no status comment for {key}"
        return "\n".join(parts)

    def reactions(self, comment_id: int | None = None) -> list[str]:
        return [r["content"] for r in self.fake.reactions.get(comment_id or self.last_comment, [])]

    def commit_states(self) -> list[str]:
        return [s["state"] for s in self.fake.statuses.get(self.head, [])]

    def edits(self, comment_id: int | None = None) -> int:
        """How many times the Action wrote the invocation's status comment (POSTs and PATCHes)."""
        marker = f"kfops:status key={comment_id or self.last_comment} "
        return sum(1 for r in self.fake.requests if r.method in ("POST", "PATCH") and "/comments" in r.path
                   and isinstance(r.body, dict) and marker in str(r.body.get("body", ""))[:300])
