"""Read a PR comment as a command: a pure function from text to what it asks for.

The rules come from bots that learnt them the hard way (Atlantis' comment parser, Prow,
slash-command-dispatch):

- The command is the first non-empty line, at its start (up to three spaces of indentation, as
  Markdown allows for a paragraph). The rest of the comment is free text for people.
- A command quoted (`> /deploy`), fenced or indented as code, or in the middle of a sentence is
  not a command: people quote commands when they talk about them.
- Characters that look like `/` (U+2215 DIVISION SLASH, U+FF0F FULLWIDTH SOLIDUS, ...) do not
  count: what runs must be what the reader sees.
- Arguments are split shell-style (quotes work) and values may contain `=`. Control and format
  characters (including the invisible bidirectional overrides) are refused in arguments.
- `/something` that is not ours is ignored (other bots have their own commands), unless it is a near
  miss of ours (`/depoly`, `/buildrun`), which deserves a "did you mean".

`parse` never raises: every input, however odd, maps to one of four results.
"""

from __future__ import annotations

import difflib
import re
import shlex
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Union

from ..errors import KfopsError, shown
from ..github.render import code

SET, RUN_ID, SHA, FORCE, DRY_RUN = "--set", "--run-id", "--sha", "--force", "--dry-run"
GLOBAL = "--global"
_VALUE_OPTIONS = frozenset({SET, RUN_ID, SHA})
_ALL_OPTIONS = (SET, RUN_ID, SHA, FORCE, DRY_RUN, GLOBAL)
_OPTION_USAGE = {SET: "[--set pipeline.KEY=VALUE]...", RUN_ID: "[--run-id ID]", SHA: "[--sha COMMIT]",
                 FORCE: "[--force]", DRY_RUN: "[--dry-run]", GLOBAL: "[--global]"}
# Positional arguments (the release commands, after branch-deploy's `.lock production reason`):
# ENV names an environment (`production`, the default, `staging`, or any `deployment.<name>` of
# the base branch's kfops.yaml); REASON is the rest of the line. The parser cannot see kfops.yaml
# (it runs before anything is read), so it checks only the name's form; `check_environment`
# holds a parsed command to the base branch's environments.
ENV, REASON = "ENVIRONMENT", "REASON"
ENVIRONMENTS = ("production", "staging")   # the built-in ones: /deploy's and /staging_deploy's
ENVIRONMENT_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}\Z")   # also schema.json's, and a GitHub Environment's
TO = "to"   # `/deploy to qa`, as branch-deploy's `.deploy to <environment>`
_POSITIONAL_USAGE = {ENV: "[ENVIRONMENT]", REASON: "[REASON...]"}
MAX_REASON = 200


@dataclass(frozen=True)
class CommandSpec:
    """One command: what it does (for /help) and which options it takes."""

    name: str
    summary: str
    options: tuple[str, ...]
    positional: tuple[str, ...] = ()
    environments: tuple[str, ...] = ENVIRONMENTS   # the first is the default; more: any configured one
    scoped: bool = False   # acts on one environment (ParsedCommand.target)

    @property
    def usage(self) -> str:
        env = "[to ENVIRONMENT]" if self.name == "deploy" else _POSITIONAL_USAGE[ENV]
        positional = [env if p == ENV else _POSITIONAL_USAGE[p] for p in self.positional]
        return " ".join([f"/{self.name}", *positional, *(_OPTION_USAGE[o] for o in self.options)])


# In the order /help lists them.
COMMANDS: dict[str, CommandSpec] = {spec.name: spec for spec in (
    CommandSpec("build", "build the images, compile the pipeline at the PR head, upload it as a "
                         "pipeline version", (SET, SHA, DRY_RUN)),
    CommandSpec("run", "run the pipeline at the PR head on Kubeflow", (SET, SHA, DRY_RUN)),
    CommandSpec("build_run", "/build, then /run (also written /build-run)", (SET, SHA, DRY_RUN)),
    CommandSpec("staging_deploy", "release the model trained on this PR to staging (= /deploy to staging)",
                (RUN_ID, SHA, FORCE, DRY_RUN), (), ("staging",), scoped=True),
    CommandSpec("deploy", "release the model trained on this PR to production, then merge; `/deploy to "
                          "ENVIRONMENT` to another configured environment", (RUN_ID, SHA, FORCE, DRY_RUN),
                (ENV,), ("production",), scoped=True),
    CommandSpec("rollback", "put back the model the environment served before its last release",
                (), (ENV,), scoped=True),
    CommandSpec("undeploy", "remove the InferenceService of a non-production environment (staging by default)",
                (), (ENV,), ("staging",), scoped=True),
    CommandSpec("lock", "lock an environment against other people's deploys until /unlock; --global "
                        "freezes every environment", (GLOBAL,), (ENV, REASON), scoped=True),
    CommandSpec("unlock", "release a lock taken with /lock (--global: the freeze)", (GLOBAL,), (ENV,),
                scoped=True),
    CommandSpec("status", "show this PR's runs and deployments, and the deploy locks", (RUN_ID,)),
    CommandSpec("cancel", "cancel this PR's pipeline run", (RUN_ID,)),
    CommandSpec("help", "list the commands you may run here", ()),
)}
ALIASES = {"build-run": "build_run"}

_MAX_NEAR_MISS = 40      # longer words are not typos of ours
_NEAR_MISS_CUTOFF = 0.75
_INDENT_LIMIT = 3        # four spaces make an indented code block in Markdown
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_KEY_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_SHA = re.compile(r"[0-9a-fA-F]{7,40}\Z")   # a commit, abbreviated as git does (7 or more)
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_SLASH_LOOKALIKES = frozenset("\u2044\u2215\u2571\u29f8\u2cc6\u3033\u30ce\u31d3\u4e3f\uff0f\u1735\u2f03")


@dataclass(frozen=True)
class ParsedCommand:
    """A command of ours with valid arguments; `typed` keeps the spelling used (`build-run`)."""

    name: str
    typed: str
    sets: tuple[str, ...] = ()
    run_id: str | None = None
    force: bool = False
    dry_run: bool = False
    text: str = ""
    sha: str | None = None      # --sha: the commit the commenter means (lower case, 7 to 40 hex)
    environment: str | None = None   # ENV of the release commands (None: the command's default)
    reason: str = ""                 # REASON of /lock
    global_lock: bool = False        # --global on /lock and /unlock

    @property
    def target(self) -> str | None:
        """The environment a release command acts on: the one named, else the command's default;
        None for the other commands and for the global freeze."""
        if not self.spec.scoped or self.global_lock:
            return None
        return self.environment or self.spec.environments[0]

    @property
    def spec(self) -> CommandSpec:
        return COMMANDS[self.name]

    @property
    def arguments(self) -> tuple[str, ...]:
        """The arguments in canonical order and spelling, for display and for logs."""
        args: list[str] = [GLOBAL] if self.global_lock else []   # before the reason, which ends the line
        if self.environment is not None:
            args.append(self.environment)
        if self.reason:
            args.append(self.reason)
        for item in self.sets:
            args += [SET, item]
        if self.run_id is not None:
            args += [RUN_ID, self.run_id]
        if self.sha is not None:
            args += [SHA, self.sha]
        if self.force:
            args.append(FORCE)
        if self.dry_run:
            args.append(DRY_RUN)
        return tuple(args)

    def display(self) -> str:
        """`/build_run --set 'pipeline.parameters.tag=a b'`: shell-quoted, so it can be pasted back."""
        return " ".join([f"/{self.name}", *(shlex.quote(a) for a in self.arguments)])


@dataclass(frozen=True)
class NearMiss:
    """`/depoly`: not ours, but so close to one of ours that the user surely meant it."""

    typed: str
    suggestion: str


@dataclass(frozen=True)
class BadArguments:
    """One of our commands with arguments we cannot accept; the reply shows the usage."""

    name: str
    problem: str
    environment: str | None = None   # a configured one the arguments come close to (authorization)

    @property
    def target(self) -> str | None:
        """Whose rule decides whether the problem may be told: for a mistyped environment the
        configured one suggested, so that who may deploy to `qa` hears "did you mean" for `qaa`."""
        return self.environment

    @property
    def usage(self) -> str:
        return COMMANDS[self.name].usage


@dataclass(frozen=True)
class NotACommand:
    """Nothing for us to do; `reason` says why (shown by `kfc comment`, logged by the Action)."""

    reason: str


Parsed = Union[ParsedCommand, NearMiss, BadArguments, NotACommand]


def echo(text: str) -> str:
    """User text echoed in a reply: printable, shortened, in inline code that it cannot close, so
    that a comment can make the Action neither mention people nor post links, images or HTML."""
    return code(shown(text))


def split_first_line(text: str) -> tuple[str, str] | None:
    """The first non-empty line and the text after it; None for an empty comment.

    Lines end at LF, CRLF or a lone CR (GitHub stores what the browser sent, often CRLF).
    """
    lines = _LINE_BREAK.split(text)
    for i, line in enumerate(lines):
        if line.strip():
            return line, "\n".join(lines[i + 1:])
    return None


def parse(text: object) -> Parsed:
    """The command a comment gives, or why it gives none. Never raises."""
    if not isinstance(text, str):
        return NotACommand("the comment has no text")
    found = split_first_line(text.removeprefix("\ufeff"))
    if found is None:
        return NotACommand("the comment is empty")
    line, rest = found
    stripped = line.strip()
    if not stripped.startswith("/"):
        return NotACommand(_why_not(stripped))
    indent = line[: len(line) - len(line.lstrip())]
    if indent.strip(" ") or len(indent) > _INDENT_LIMIT:
        return NotACommand("the first line is indented as code (a tab, 4 or more spaces, or other "
                           "blank characters before the /): a command starts the line")
    word, _, arguments = _split_word(stripped[1:])
    name = ALIASES.get(word, word)
    if name not in COMMANDS:
        suggestion = _near_miss(word)
        if suggestion is not None:
            return NearMiss(word, suggestion)
        if not word:
            return NotACommand("a lone / is not a command")
        return NotACommand(f"/{shown(word)} is not a kfops command")
    return _parse_arguments(name, word, arguments, rest.strip())


def _why_not(stripped: str) -> str:
    first = stripped[0]
    if _looks_like_slash(first):
        code = f"U+{ord(first):04X} {unicodedata.name(first, 'UNKNOWN')}"
        return f"the first line starts with {code}, which looks like / but is not: type a plain /"
    if stripped.startswith(">"):
        return "the first line is a quote (>): quoted commands are not run"
    if stripped.startswith(("```", "~~~")):
        return "the comment starts with a code block: commands in code are not run"
    if stripped.startswith("`"):
        return "the first line starts with inline code: commands in code are not run"
    for name in (*COMMANDS, *ALIASES):
        if re.search(rf"(?<!\S)/{re.escape(name)}(?!\S)", stripped):
            return (f"/{name} is in the middle of the first line: a command must start the comment's "
                    "first non-empty line")
    return "the first non-empty line does not start with /"


def _looks_like_slash(ch: str) -> bool:
    if ch in _SLASH_LOOKALIKES:
        return True
    name = unicodedata.name(ch, "")
    return "SOLIDUS" in name or ("SLASH" in name and "BACK" not in name)


def _split_word(after_slash: str) -> tuple[str, str, str]:
    """`build_run --set x=1` -> ("build_run", " ", "--set x=1"), splitting at the first blank."""
    for i, ch in enumerate(after_slash):
        if ch.isspace():
            return after_slash[:i], ch, after_slash[i + 1:]
    return after_slash, "", ""


def _near_miss(word: str) -> str | None:
    if not word or len(word) > _MAX_NEAR_MISS:
        return None
    candidates = [*COMMANDS, *ALIASES]
    lowered = word.lower()
    if lowered in candidates:   # /Build, /HELP
        return ALIASES.get(lowered, lowered)
    close = difflib.get_close_matches(lowered, candidates, n=1, cutoff=_NEAR_MISS_CUTOFF)
    return ALIASES.get(close[0], close[0]) if close else None


def _parse_arguments(name: str, typed: str, raw: str, free_text: str) -> Parsed:
    spec = COMMANDS[name]
    # Pasted text often carries no-break or other Unicode spaces between arguments.
    normalized = "".join(" " if ch.isspace() else ch for ch in raw)
    try:
        tokens = shlex.split(normalized, comments=False, posix=True)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        return BadArguments(name, f"the arguments cannot be split: {str(exc).lower()}")
    for token in tokens:
        bad = next((ch for ch in token if unicodedata.category(ch) in _REFUSED_CATEGORIES), None)
        if bad is not None:
            return BadArguments(name, f"an argument contains the invisible or control character "
                                      f"U+{ord(bad):04X}: retype it")
    sets: list[str] = []
    single: dict[str, str] = {}     # --run-id, --sha: given at most once
    force = dry_run = global_lock = False
    positional: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token.startswith("-") or (positional and REASON in spec.positional):
            if not spec.positional:
                return BadArguments(name, f"unexpected argument {echo(token)}: free text goes on the lines "
                                          f"after the command")
            positional.append(token)
            continue
        option, has_value, value = token.partition("=")
        if option not in _ALL_OPTIONS:
            close = difflib.get_close_matches(option, _ALL_OPTIONS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close and close[0] in spec.options else ""
            return BadArguments(name, f"unknown option {echo(option)}{hint}")
        if option not in spec.options:
            return BadArguments(name, f"/{name} does not take {option}")
        if option in _VALUE_OPTIONS:
            if not has_value:
                if i >= len(tokens) or tokens[i].startswith("--"):
                    return BadArguments(name, f"{option} needs a value")
                value = tokens[i]
                i += 1
            if option == SET:
                problem = _check_set(value)
                if problem:
                    return BadArguments(name, problem)
                sets.append(value)
            else:
                if option in single:
                    return BadArguments(name, f"{option} is given twice")
                problem = _check_single(option, value)
                if problem:
                    return BadArguments(name, problem)
                single[option] = value.lower() if option == SHA else value
        else:
            if has_value:
                return BadArguments(name, f"{option} takes no value")
            force = force or option == FORCE
            dry_run = dry_run or option == DRY_RUN
            global_lock = global_lock or option == GLOBAL
    environment, reason, problem = _positional(spec, positional, global_lock)
    if problem:
        return BadArguments(name, problem)
    return ParsedCommand(name, typed, tuple(sets), single.get(RUN_ID), force, dry_run, free_text,
                         single.get(SHA), environment, reason, global_lock)


def _positional(spec: CommandSpec, tokens: list[str], global_lock: bool) -> tuple[str | None, str, str | None]:
    """(environment, reason, problem) of a release command. The environment comes first and is
    one of the spec's; a word close to one (`stagin`) is refused rather than read as a reason,
    so that a typo never locks or rolls back the wrong environment. /lock's reason is the rest of
    the line (the lines after it stay free text for people, as for every command)."""
    if not spec.positional:
        return None, "", None
    environment: str | None = None
    if spec.name == "deploy" and tokens and tokens[0] == TO:
        if len(tokens) == 1:
            return None, "", "`to` needs an environment: `/deploy to staging`"
        tokens = tokens[1:]
    if tokens and global_lock and tokens[0] in ENVIRONMENTS:
        return None, "", f"--global acts on every environment: drop {echo(tokens[0])}, or drop --global"
    if tokens and not global_lock:
        word = tokens[0]
        if word in ENVIRONMENTS or (REASON not in spec.positional and ENVIRONMENT_NAME.match(word)):
            environment, tokens = word, tokens[1:]   # any other name: check_environment
        elif REASON not in spec.positional or word.lower() in ENVIRONMENTS or \
                difflib.get_close_matches(word.lower(), ENVIRONMENTS, n=1, cutoff=0.75):
            close = difflib.get_close_matches(word.lower(), ENVIRONMENTS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return None, "", (f"{echo(word)} is not an environment name (lower-case letters, digits and -, "
                              f"as `deployment.<name>` in kfops.yaml){hint}")
    if tokens and REASON not in spec.positional:
        return None, "", f"unexpected argument {echo(tokens[0])}: free text goes on the lines after the command"
    reason = " ".join(tokens)
    if len(reason) > MAX_REASON:
        return None, "", f"the reason is {len(reason)} characters long: at most {MAX_REASON}, please"
    return environment, reason, None


def check_environment(command: ParsedCommand, environments: Mapping[str, bool], source: str) -> Parsed:
    """The command held to the environments of the base branch's kfops.yaml (`environments`:
    name -> production-like), which the parser cannot see: BadArguments for a name that is not
    one of them (with the list and a "did you mean"), and for /undeploy of a production-like one.
    /lock's first word becomes its environment when it names a configured one (`/lock qa why`).
    `production` and `staging` are always accepted: the handlers say when they are not
    configured, as they did before environments had names."""
    if not command.spec.scoped or command.global_lock:
        return command
    if command.name == "lock" and command.environment is None and command.reason:
        word, _, rest = command.reason.partition(" ")
        if word in environments:
            command = replace(command, environment=word, reason=rest.strip())
    target = command.target or ""
    if target not in environments and target not in ENVIRONMENTS:
        known = ", ".join(environments) or "none"
        close = difflib.get_close_matches(target, list(environments), n=1, cutoff=0.6) or \
            [e for e in environments if e.startswith(target)][:1]   # `prod`
        hint = f" Did you mean `{close[0]}`?" if close else ""
        return BadArguments(command.name, f"{echo(target)} is not an environment of {source} (its "
                                          f"environments: {known}).{hint} An environment is added as "
                                          f"`deployment.{target}` on the base branch",
                            close[0] if close else None)
    if command.name == "undeploy" and environments.get(target, target == "production"):
        return BadArguments(command.name, f"/undeploy does not remove a production environment ({echo(target)}): "
                                          "`/rollback` puts the previous model back")
    return command


def _check_single(option: str, value: str) -> str | None:
    if option == RUN_ID and not _RUN_ID.match(value):
        return f"{echo(value)} is not a run id (letters, digits, . _ -)"
    if option == SHA and not _SHA.match(value):
        return (f"{echo(value)} is not a commit SHA (7 to 40 hexadecimal characters, as `git log --oneline` "
                "shows them)")
    return None


def check_values(command: ParsedCommand) -> Parsed:
    """The command, or BadArguments for the first `--set` value kfops.yaml's loader would refuse
    (config.overrides.parse_value: over 4 KiB, a YAML anchor or alias, not YAML), so that the
    reply shows the usage before any work. Apart from `parse` because it imports YAML, which the
    Action loads only after acknowledging the comment."""
    if not command.sets:
        return command
    from ..config.overrides import parse_value

    for item in command.sets:
        key, _, raw = item.partition("=")
        try:
            parse_value(raw)
        except KfopsError as exc:
            detail = "; ".join(echo(str(p)) for p in exc.problems)
            return BadArguments(command.name, f"--set {echo(key)}: {exc.what}" + (f" ({detail})" if detail else "")
                                + (f". {exc.fix}" if exc.fix else ""))
    return command


def _check_set(item: str) -> str | None:
    """The same rule as `kfc --set`: KEY=VALUE, split at the first `=`, only under `pipeline.`."""
    key, has_value, _ = item.partition("=")
    if not has_value:
        return f"--set {echo(item)}: expected KEY=VALUE, e.g. --set pipeline.parameters.epochs=5"
    parts = key.split(".")
    if not all(_KEY_PART.match(p) for p in parts):
        return f"--set {echo(item)}: the key {echo(key)} is not a dotted path"
    if parts[0] != "pipeline" or len(parts) < 2:
        return (f"--set {echo(item)}: only pipeline.* may be set from a comment; other sections "
                f"change in a reviewed commit")
    return None
