"""Authorization: permission levels x commands x fork/same-repo, and what kfops.yaml changes."""

from __future__ import annotations

import itertools

import pytest

from kfops_action.chatops.authorize import (DEFAULT_PERMISSIONS, DEFAULT_POLICY, FORK_GUARDED, LEVELS, Allowed,
                                            Denied, Policy, authorize, needed, normalize_level, teams_to_check)
from kfops_action.chatops.command import COMMANDS

# The expected outcome with the defaults, written out rather than derived from the code's tables:
# the lowest level that may run each command on a same-repository pull request, and whether a
# pull request from a fork refuses it for everyone.
EXPECTED_MINIMUM = {
    "help": "read", "status": "read",
    "build": "write", "run": "write", "build_run": "write", "cancel": "write", "staging_deploy": "write",
    "deploy": "maintain",
}
REFUSED_ON_FORKS = {"build", "run", "build_run", "deploy", "staging_deploy"}
ORDER = ["none", "read", "triage", "write", "maintain", "admin"]


def test_the_tables_match_the_issue() -> None:
    assert DEFAULT_PERMISSIONS == EXPECTED_MINIMUM
    assert set(FORK_GUARDED) == REFUSED_ON_FORKS
    assert list(LEVELS) == ORDER
    # the release commands follow their environment's deploy rule (tests/test_chatops_locks.py)
    assert set(COMMANDS) == set(EXPECTED_MINIMUM) | {"rollback", "undeploy", "lock", "unlock"}


CASES = list(itertools.product(ORDER, sorted(EXPECTED_MINIMUM), [False, True]))


@pytest.mark.parametrize(("level", "command", "fork"), CASES,
                         ids=[f"{lv}-{c}-{'fork' if f else 'same'}" for lv, c, f in CASES])
def test_defaults(level: str, command: str, fork: bool) -> None:
    verdict = authorize(command, user="alice", level=level, policy=DEFAULT_POLICY, fork=fork,
                        head_repo="mallory/model")
    expected_allowed = ORDER.index(level) >= ORDER.index(EXPECTED_MINIMUM[command]) and not (
        fork and command in REFUSED_ON_FORKS)
    assert isinstance(verdict, Allowed) == expected_allowed, verdict
    if isinstance(verdict, Denied):
        if fork and command in REFUSED_ON_FORKS:
            assert f"@alice cannot run /{command} here: this pull request comes from the fork `mallory/model`" \
                in verdict.reply
            assert "chatops.allow_forks: true" in verdict.reply
        else:
            assert (f"@alice cannot run /{command} here: it needs {EXPECTED_MINIMUM[command]}, alice has {level}"
                    in verdict.reply)
        assert verdict.reply.startswith("<!-- kfops -->")


def test_the_refusal_wording_of_the_issue() -> None:
    verdict = authorize("deploy", user="alice", level="write", policy=DEFAULT_POLICY, fork=False)
    assert isinstance(verdict, Denied)
    assert "@alice cannot run /deploy here: it needs maintain, alice has write" in verdict.reply
    assert "Nothing was run" in verdict.reply


CONFIG = {
    "pipeline": {"file": "p.py", "function": "f"},
    "chatops": {
        "commands": {
            "deploy": {"permission": "admin", "users": ["Release-Bot-Person"], "teams": ["acme/release"]},
            "build": {"permission": "triage"},
            "status": {"permission": "triage"},
        },
    },
}


@pytest.mark.parametrize(("command", "level", "user", "teams", "fork", "allowed"), [
    # raised: deploy needs admin now; a maintainer is refused...
    ("deploy", "maintain", "bob", (), False, False),
    ("deploy", "admin", "bob", (), False, True),
    # ...unless listed by login (case-insensitive, as GitHub logins are) or by team
    ("deploy", "read", "release-bot-person", (), False, True),
    ("deploy", "none", "carol", ("acme/release",), False, True),
    ("deploy", "write", "carol", ("acme/other",), False, False),
    # the allow-lists do not open forks
    ("deploy", "read", "release-bot-person", (), True, False),
    ("deploy", "admin", "bob", (), True, False),
    # lowered: build needs triage; raised: status needs triage
    ("build", "triage", "bob", (), False, True),
    ("build", "read", "bob", (), False, False),
    ("status", "triage", "bob", (), False, True),
    ("status", "read", "bob", (), False, False),
    # untouched commands keep their defaults
    ("run", "triage", "bob", (), False, False),
    ("run", "write", "bob", (), False, True),
])
def test_config_raises_lowers_and_adds_allow_lists(command: str, level: str, user: str, teams: tuple[str, ...],
                                                   fork: bool, allowed: bool) -> None:
    policy = Policy.from_config(CONFIG, "kfops.yaml on `main`")
    verdict = authorize(command, user=user, level=level, policy=policy, fork=fork, member_of=teams)
    assert isinstance(verdict, Allowed) == allowed, verdict


def test_refusal_mentions_the_allow_lists_and_the_config_source() -> None:
    policy = Policy.from_config(CONFIG, "kfops.yaml on `main`")
    verdict = authorize("deploy", user="bob", level="maintain", policy=policy, fork=False,
                        notes=("The membership of acme/release could not be checked (403).",))
    assert isinstance(verdict, Denied)
    assert "it needs admin, bob has maintain" in verdict.reply
    assert "`chatops.commands.deploy`" in verdict.reply
    assert "could not be checked (403)" in verdict.reply
    assert "kfops.yaml on `main`" in verdict.reply


def test_allow_forks_opens_forks_but_keeps_the_levels() -> None:
    policy = Policy.from_config({"chatops": {"allow_forks": True}}, "x")
    assert isinstance(authorize("build", user="a", level="write", policy=policy, fork=True), Allowed)
    assert isinstance(authorize("build", user="a", level="read", policy=policy, fork=True), Denied)
    assert isinstance(authorize("deploy", user="a", level="write", policy=policy, fork=True), Denied)


@pytest.mark.parametrize(("role_name", "legacy", "level"), [
    ("maintain", "write", "maintain"),   # the legacy field says write for maintainers
    ("triage", "read", "triage"),
    ("admin", "admin", "admin"),
    ("Write", "write", "write"),
    ("ml-engineer", "write", "write"),   # a custom role: its base role's legacy level, no more
    ("ml-viewer", "read", "read"),
    ("weird", None, "none"),
    (None, None, "none"),
])
def test_role_name_is_read_not_the_legacy_permission(role_name: str | None, legacy: str | None, level: str) -> None:
    assert normalize_level(role_name, legacy) == level


def test_unknown_levels_grant_nothing() -> None:
    assert isinstance(authorize("help", user="a", level="superuser", policy=DEFAULT_POLICY, fork=False), Denied)


def test_team_lookups_only_when_they_can_change_the_verdict() -> None:
    policy = Policy.from_config(CONFIG, "x")
    assert teams_to_check("deploy", user="bob", level="admin", policy=policy, fork=False) == ()
    assert teams_to_check("deploy", user="release-bot-person", level="read", policy=policy, fork=False) == ()
    assert teams_to_check("deploy", user="bob", level="write", policy=policy, fork=True) == ()
    assert teams_to_check("deploy", user="bob", level="write", policy=policy, fork=False) == ("acme/release",)
    assert policy.all_teams() == ("acme/release",)


def test_needed_says_where_the_rule_comes_from() -> None:
    policy = Policy.from_config(CONFIG, "x")
    assert needed("run", policy) == "write (default)"
    assert needed("deploy", policy) == ("admin (chatops.commands.deploy.permission), or users release-bot-person; "
                                        "teams acme/release")
