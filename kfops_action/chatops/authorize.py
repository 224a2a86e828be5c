"""Who may run which command: a pure decision from facts gathered elsewhere.

Inputs: the commenter's permission level on the repository (the `role_name` of GitHub's
collaborator-permission API, never `author_association`, which misreports private org members),
the `chatops` section of kfops.yaml *from the base branch* (a PR must not grant itself rights),
whether the PR comes from a fork, and the teams the commenter is known to belong to.

Rules:
- Defaults: /help and /status need read; /build, /run, /build_run, /cancel, /staging_deploy need
  write; /deploy needs maintain. `chatops.commands.<name>.permission` raises or lowers each.
- `chatops.commands.<name>.users` and `.teams` are allow-lists *added* to the level: a listed user,
  or a member of a listed team, may run the command whatever their level.
- On a PR from a fork, commands that run the PR's code with the repository's secrets (/build,
  /run, /build_run, /deploy, /staging_deploy) are refused, for everyone, unless
  `chatops.allow_forks: true`. That is the "pwn request" pattern, and an admin's comment does not
  make the fork's code safer.
- The release commands (/rollback, /undeploy, /lock, /unlock) act on an environment. Unless
  `chatops.commands.<name>` sets their own rule, they follow that environment's deploy rule: on
  production what /deploy needs (maintain), on staging what /staging_deploy needs (write); the
  global freeze follows /deploy's. Changing what serves, or who may change it, is a deploy. They
  run no pull-request code, so they are not refused on forks (a rollback is an incident tool,
  valid from any pull request, as in github/branch-deploy).
- Other environments (`deployment.<name>`, deployed with `/deploy to <name>`) follow /deploy's rule
  when production-like (`deployment.<name>.production: true`), else /staging_deploy's; every
  environment's `deployment.<name>.permission` replaces that rule's level (its users and teams
  stay). So `/deploy to staging` needs what `/staging_deploy` needs, never less.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Union

from . import replies
from .command import COMMANDS

LEVELS = ("none", "read", "triage", "write", "maintain", "admin")
_RANK = {level: i for i, level in enumerate(LEVELS)}
# The legacy `permission` field: maintain is reported as write, triage as read.
_LEGACY = {"admin": "admin", "write": "write", "read": "read", "none": "none"}

DEFAULT_PERMISSIONS: dict[str, str] = {
    "help": "read", "status": "read",
    "build": "write", "run": "write", "build_run": "write", "cancel": "write", "staging_deploy": "write",
    "deploy": "maintain",
}
FORK_GUARDED = frozenset({"build", "run", "build_run", "deploy", "staging_deploy"})
# Release commands: their default rule is the deploy rule of the environment they act on.
ENVIRONMENT_RULES = {"production": "deploy", "staging": "staging_deploy"}
RELEASE_COMMANDS = ("rollback", "undeploy", "lock", "unlock")
DEPLOYS = ("deploy", "staging_deploy")


def normalize_level(role_name: str | None, legacy_permission: str | None = None) -> str:
    """The level to compare: `role_name` when it is a base role; for a custom role (whose name
    says nothing comparable), the legacy `permission` field, a safe lower bound of its base role."""
    role = (role_name or "").strip().lower()
    if role in _RANK:
        return role
    return _LEGACY.get((legacy_permission or "").strip().lower(), "none")


def rank(level: str) -> int:
    """Unknown levels rank as none: a name we cannot place grants nothing."""
    return _RANK.get(level, 0)


@dataclass(frozen=True)
class Rule:
    """Who may run one command."""

    permission: str
    users: frozenset[str] = frozenset()   # lowercased logins (GitHub logins are case-insensitive)
    teams: tuple[str, ...] = ()           # "org/team-slug"
    configured: bool = False              # the permission comes from kfops.yaml, not the defaults


@dataclass(frozen=True)
class Policy:
    """The `chatops` section, with defaults filled in, and where it came from (for replies)."""

    rules: Mapping[str, Rule] = field(default_factory=dict)
    allow_forks: bool = False
    source: str = "the defaults"
    # deployment.<name> of the base branch: (production-like, its `permission` or None)
    environments: Mapping[str, tuple[bool, str | None]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None, source: str) -> Policy:
        """From a whole, already validated kfops.yaml mapping (None: no kfops.yaml, defaults)."""
        chatops = (data or {}).get("chatops") or {}
        commands = chatops.get("commands") or {}
        rules = {}
        for name, default in [*DEFAULT_PERMISSIONS.items(), *((c, "") for c in RELEASE_COMMANDS)]:
            entry = commands.get(name) or {}
            if name in RELEASE_COMMANDS and not entry:
                continue  # follows the environment's deploy rule (rule())
            rules[name] = Rule(
                permission=entry.get("permission", default or DEFAULT_PERMISSIONS["deploy"]),
                users=frozenset(str(u).lower() for u in entry.get("users") or ()),
                teams=tuple(str(t) for t in entry.get("teams") or ()),
                configured="permission" in entry,
            )
        from .deploy_rules import environments, production_like

        envs = {name: (production_like(name, settings), settings.get("permission"))
                for name, settings in environments(data).items()}
        return cls(rules, bool(chatops.get("allow_forks", False)), source, envs)

    def rule(self, command: str, environment: str | None = None) -> Rule:
        """The rule for `command`; a release command without its own falls back to the deploy
        rule of `environment` (None: the command's default environment)."""
        if command in DEPLOYS or (command in RELEASE_COMMANDS and command not in self.rules):
            return self.environment_rule(environment or COMMANDS[command].environments[0])
        return self.rules.get(command) or Rule(DEFAULT_PERMISSIONS[command])

    @property
    def production_like(self) -> dict[str, bool]:
        """The base branch's environments: name -> production-like (command.check_environment)."""
        return {name: production for name, (production, _) in self.environments.items()}

    def deploy_command(self, environment: str) -> str:
        """The deploy command whose rule `environment` follows (ENVIRONMENT_RULES, else by
        whether it is production-like)."""
        production, _ = self.environments.get(environment, (environment == "production", None))
        return ENVIRONMENT_RULES.get(environment) or ("deploy" if production else "staging_deploy")

    def environment_rule(self, environment: str) -> Rule:
        """Who may deploy to (and roll back, lock, undeploy) `environment`."""
        base = self.deploy_command(environment)
        rule = self.rules.get(base) or Rule(DEFAULT_PERMISSIONS[base])
        _, permission = self.environments.get(environment, (False, None))
        return replace(rule, permission=permission, configured=True) if permission else rule

    def all_teams(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for rule in self.rules.values() for t in rule.teams))


DEFAULT_POLICY = Policy.from_config(None, "the defaults (no kfops.yaml on the base branch)")


@dataclass(frozen=True)
class Allowed:
    command: str
    user: str
    reason: str


@dataclass(frozen=True)
class Denied:
    command: str
    user: str
    reason: str   # short, for /help and logs
    reply: str    # the whole answer posted in the PR


Verdict = Union[Allowed, Denied]


def teams_to_check(command: str, *, user: str, level: str, policy: Policy, fork: bool,
                   environment: str | None = None) -> tuple[str, ...]:
    """The team memberships that could change the verdict: none when the level or the users list
    already decides, so that the common case costs no API call."""
    rule = policy.rule(command, environment)
    if (fork and command in FORK_GUARDED and not policy.allow_forks) or rank(level) >= rank(rule.permission):
        return ()
    if user.lower() in rule.users:
        return ()
    return rule.teams


def authorize(command: str, *, user: str, level: str, policy: Policy, fork: bool,
              member_of: Collection[str] = (), head_repo: str | None = None,
              notes: tuple[str, ...] = (), environment: str | None = None) -> Verdict:
    """Allowed or Denied (with the reply to post). `member_of` holds the "org/team" entries the
    user was found to belong to; `notes` explain lookups that failed (they go into the reply).
    `environment`: what a release command acts on (its rule may depend on it)."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}")
    rule = policy.rule(command, environment)
    if fork and command in FORK_GUARDED and not policy.allow_forks:
        return Denied(command, user, "refused on pull requests from forks",
                      replies.fork_refused(user, command, head_repo, policy.source))
    if rank(level) >= rank(rule.permission):
        return Allowed(command, user, f"{user} has {level}; /{command} needs {rule.permission}")
    if user.lower() in rule.users:
        return Allowed(command, user, f"{user} is listed in chatops.commands.{command}.users")
    member = next((t for t in rule.teams if t in set(member_of)), None)
    if member is not None:
        return Allowed(command, user, f"{user} is a member of {member} (chatops.commands.{command}.teams)")
    alternatives = bool(rule.users or rule.teams)
    reason = f"needs {rule.permission}" + (" or a listed user/team" if alternatives else "")
    default = COMMANDS[command].environments[0]
    if (command in RELEASE_COMMANDS and command not in policy.rules) or \
            (command in DEPLOYS and environment not in (None, default)):   # /help: say which environment
        reason += f" for {environment or default}"
    return Denied(command, user, reason,
                  replies.refused(user, command, rule.permission, level, alternatives=alternatives,
                                  policy_source=policy.source, notes=notes))


def needed(command: str, policy: Policy, environment: str | None = None) -> str:
    """What a command needs, with where that comes from: for `kfc comment` and logs."""
    rule = policy.rule(command, environment)
    origin = f"chatops.commands.{command}.permission" if rule.configured else "default"
    env = environment or (COMMANDS[command].environments[0] if command in (*DEPLOYS, *RELEASE_COMMANDS) else "")
    if env and policy.environments.get(env, (False, None))[1]:
        origin = f"deployment.{env}.permission"
    elif (command in RELEASE_COMMANDS and command not in policy.rules) or \
            (command in DEPLOYS and policy.deploy_command(env) != command):
        origin = f"as /{policy.deploy_command(env)}, " + ("configured" if rule.configured else "default")
    extra = []
    if rule.users:
        extra.append("users " + ", ".join(sorted(rule.users)))
    if rule.teams:
        extra.append("teams " + ", ".join(rule.teams))
    text = f"{rule.permission} ({origin})"
    return text + (f", or {'; '.join(extra)}" if extra else "")
