"""Small value types: which repository, and who the action is on GitHub."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A comment written with GITHUB_TOKEN is authored by this account (type "Bot").
ACTIONS_BOT = "github-actions[bot]"
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Repo:
    owner: str
    name: str

    @classmethod
    def parse(cls, full_name: str) -> Repo:
        """'owner/name', as GITHUB_REPOSITORY holds it."""
        if not _REPO.match(full_name or ""):
            raise ValueError(f"not an owner/name repository: {full_name!r}")
        owner, name = full_name.split("/")
        return cls(owner, name)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Repo:
        env = os.environ if env is None else env
        return cls.parse(env.get("GITHUB_REPOSITORY", ""))

    @property
    def path(self) -> str:
        """The REST prefix: /repos/{owner}/{repo}."""
        return f"/repos/{self.owner}/{self.name}"

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class Identity:
    """The account the action posts as. Hidden state is trusted only in comments it wrote.

    GITHUB_TOKEN posts as `github-actions[bot]` (type Bot); a GitHub App token as
    `<app-slug>[bot]`; a personal token as that user (type User). `type=None` accepts any type.
    Logins compare case-insensitively, as GitHub's do.
    """

    login: str = ACTIONS_BOT
    type: str | None = "Bot"

    def wrote(self, item: Mapping[str, Any]) -> bool:
        user = item.get("user")
        if not isinstance(user, Mapping):
            return False
        login = user.get("login")
        if not isinstance(login, str) or login.lower() != self.login.lower():
            return False
        return self.type is None or user.get("type") == self.type

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Identity | None:
        """The author of something we just created: that is who our token is."""
        user = item.get("user")
        if isinstance(user, Mapping) and isinstance(user.get("login"), str):
            kind = user.get("type")
            return cls(user["login"], kind if isinstance(kind, str) else None)
        return None

    @classmethod
    def from_login(cls, login: str | None) -> Identity:
        """From the action's `bot-login` input: a `[bot]` login is a Bot, anything else a User."""
        if not login:
            return cls()
        return cls(login, "Bot" if login.lower().endswith("[bot]") else "User")
