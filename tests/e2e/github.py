"""The fake GitHub of tests/fakes/fake_github.py, plus pull requests from forks (whose head
repository is another account's copy), started behind its own Prism so that every request the
Action makes from inside the act job is checked against GitHub's API description."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fakes.fake_github import FakeGitHub
from fakes.prism import PrismProxy


class E2EGitHub(FakeGitHub):
    def reset(self) -> None:
        super().reset()
        self.fork_owners: dict[int, str] = {}

    def add_fork_pull(self, number: int, *, head_sha: str, fork_owner: str, **options: Any) -> Any:
        pull = self.add_pull(number, head_sha=head_sha, user=fork_owner, **options)
        self.fork_owners[number] = fork_owner
        return pull

    def pull_json(self, pull: Any) -> dict[str, Any]:
        data = super().pull_json(pull)
        owner = self.fork_owners.get(pull.number)
        if owner is not None:
            repo = dict(data["head"]["repo"])
            repo.update(full_name=f"{owner}/{self.repo}", fork=True, owner=self.user_json(owner),
                        html_url=f"{self.web}/{owner}/{self.repo}", url=f"{self.api}/repos/{owner}/{self.repo}")
            data["head"].update(repo=repo, user=self.user_json(owner), label=f"{owner}:{pull.head_ref}")
        return data


@dataclass
class PrismLog:
    """What Prism said about the traffic since `mark()`: its validation errors and warnings."""

    prism: PrismProxy
    offset: int = 0

    def mark(self) -> None:
        self.offset = len(self.prism.log())

    def problems(self) -> list[str]:
        text = self.prism.log()[self.offset:]
        lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in text.splitlines()]
        return [line for line in lines if re.search(r"✖|\berror\b|Violation", line, re.I)
                and "Unable to match the returned status code" not in line]
