"""Every text the Action posts in a pull request, in one place, so that tone and facts stay consistent.

Each reply says who it answers, what happened (or did not), and the next step. Every reply starts
with a hidden marker: the event filter ignores comments carrying it, so that the Action never
answers itself even when it posts with a personal token (not as a bot). The marker is only used to
*ignore* comments; nothing is ever *trusted* because of it.

User text echoed back (a mistyped command, an argument) is shown in inline code, shortened and made
printable, so that a comment cannot make the Action mention people or inject Markdown.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from .command import COMMANDS, CommandSpec, echo

MARKER = "<!-- kfops -->"


def _reply(*lines: str) -> str:
    return "\n".join([MARKER, *lines]).rstrip() + "\n"


def refused(user: str, command: str, needs: str, has: str, *, alternatives: bool, policy_source: str,
            notes: Sequence[str] = ()) -> str:
    """The permission refusal, worded as in the issue: who, what, what it needs, what they have."""
    lines = [f"@{user} cannot run /{command} here: it needs {needs}, {user} has {has}.", ""]
    if alternatives:
        lines.append(f"Users and teams listed in `chatops.commands.{command}` may run it too; "
                     f"{user} is not one of them.")
    lines += [*notes, f"Nothing was run. Who may run what comes from {policy_source}."]
    return _reply(*lines)


def fork_refused(user: str, command: str, head_repo: str | None, policy_source: str) -> str:
    origin = f"the fork {echo(head_repo)}" if head_repo else "a fork that no longer exists"
    return _reply(
        f"@{user} cannot run /{command} here: this pull request comes from {origin}.",
        "",
        f"/{command} would run the pull request's code with this repository's secrets, so it is refused "
        "for forks unless kfops.yaml on the base branch sets `chatops.allow_forks: true`. Nothing was run. "
        f"Who may run what comes from {policy_source}.",
    )


def did_you_mean(user: str, typed: str, suggestion: str) -> str:
    spec = COMMANDS[suggestion]
    return _reply(f"@{user} {echo('/' + typed)} is not a kfops command. Did you mean `/{suggestion}`?",
                  "", f"Usage: `{spec.usage}`. Nothing was run; `/help` lists the commands.")


def bad_arguments(user: str, command: str, problem: str) -> str:
    spec = COMMANDS[command]
    return _reply(f"@{user} /{command} was not run: {problem}.", "", "Usage:", "```", spec.usage, "```", "",
                  _option_help(spec))


def _option_help(spec: CommandSpec) -> str:
    lines = []
    if "--set" in spec.options:
        lines.append("- `--set pipeline.KEY=VALUE` (repeatable): override a pipeline setting for this "
                     "run, e.g. `--set pipeline.parameters.epochs=5`; quote values with spaces.")
    if "--run-id" in spec.options:
        lines.append("- `--run-id ID`: the pipeline run to use (default: the latest of this PR).")
    if "--sha" in spec.options:
        lines.append("- `--sha COMMIT`: the commit you mean (7 or more hex characters); refused unless it is "
                     "the PR's head.")
    if "--force" in spec.options:
        lines.append("- `--force`: deploy even when a check would refuse it.")
    if "--dry-run" in spec.options:
        lines.append("- `--dry-run`: check everything, change nothing.")
    return "\n".join(lines) + ("\n\n" if lines else "") + "Free text may follow on the next lines."


def help_text(user: str, allowed: Sequence[str], refused_needs: Sequence[tuple[str, str]],
              *, policy_source: str, fork: bool, unavailable: Collection[str] = ()) -> str:
    """`/help`: what this user may run here, then what they may not and why, from the config.
    Commands this version cannot run yet are listed as such rather than hidden or promised."""
    lines = [f"@{user} here you may run:", ""]
    lines += [f"- `{COMMANDS[c].usage}`: {COMMANDS[c].summary}"
              + (" *(not available yet in this version)*" if c in unavailable else "")
              for c in allowed] or ["- nothing"]
    if refused_needs:
        lines += ["", "Not for you here:", ""]
        lines += [f"- `/{c}`: {why}" for c, why in refused_needs]
    lines += ["", "Write the command on the first line of a new comment; free text may follow on the next "
                  "lines. `--dry-run` checks without changing anything."]
    if fork:
        lines.append("This pull request comes from a fork.")
    lines.append(f"Permissions from {policy_source}.")
    return _reply(*lines)


def not_available(user: str, command: str, version: str) -> str:
    return _reply(f"@{user} /{command} is not available yet in this version of kfops ({version}). "
                  "Nothing was done.")


def not_ready(user: str, command: str, problem: str) -> str:
    return _reply(f"@{user} /{command} was not run: {problem}.")


def config_invalid(user: str, command: str, source: str, error: str) -> str:
    return _reply(f"@{user} /{command} was not run: {source} is invalid, so who may run what is unknown.",
                  "", "```", error, "```", "Fix kfops.yaml on the base branch (`kfc validate` shows every "
                                           "error with its line).")


def report(body: str) -> str:
    """A handler's report, marked as ours."""
    return _reply(body)
