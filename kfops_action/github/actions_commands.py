"""The GitHub Actions workflow-command and file-command protocol, as a small module of our own.

Why not `actions-toolkit` (Python): unmaintained since 2022, it still writes the deprecated
`::set-output`, and it pulls in PyGithub and cryptography. The protocol is small:

- Inputs arrive as environment variables `INPUT_<NAME>`: the runner upper-cases the name and
  replaces spaces with underscores, but keeps hyphens (`github-token` -> `INPUT_GITHUB-TOKEN`).
- Outputs and the job summary are *files* (`$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY`). A multi-line
  output is written as `name<<DELIMITER`; the delimiter is random per write, so that a value cannot
  end it early and smuggle in another output.
- Workflow commands are lines on stdout: `::error file=F,line=L,title=T::message`. Messages escape
  `%`, CR and LF; properties also escape `:` and `,` (what `@actions/core` does), so text taken from
  a comment or a log cannot end the command early or forge a property.
- Text we did not write (a command comment, a tool's log) is echoed between `::stop-commands::`
  markers, with a random token, so that a line in it cannot become a workflow command
  (`::add-mask::`, forged annotations).

Every function takes its stream and environment as arguments (defaults: stdout, os.environ), so
tests need no monkeypatching.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

# GitHub rejects a step summary over 1 MiB ("$GITHUB_STEP_SUMMARY upload aborted").
STEP_SUMMARY_LIMIT = 1024 * 1024
TRUE_VALUES = ("true", "True", "TRUE")
FALSE_VALUES = ("false", "False", "FALSE")


class ActionsCommandError(ValueError):
    """A value that the protocol cannot carry (e.g. an output name with a newline)."""


# -- escaping ----------------------------------------------------------------------------------


def escape_data(value: object) -> str:
    """A command's message: `%`, CR and LF escaped (the runner decodes them back)."""
    return str(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: object) -> str:
    """A command's property value: as `escape_data`, plus `:` and `,` (property separators)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: object = "", **properties: object) -> str:
    """One workflow-command line, e.g. command("error", "boom", file="a.py", line=3)."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items()
                     if value is not None and value != "")
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


# -- inputs ------------------------------------------------------------------------------------


def input_variable(name: str) -> str:
    """The environment variable the runner sets for input `name` (hyphens kept)."""
    return "INPUT_" + name.replace(" ", "_").upper()


def get_input(name: str, *, required: bool = False, default: str | None = None, trim: bool = True,
              env: Mapping[str, str] | None = None) -> str | None:
    """An input's value; an empty value counts as unset (the runner passes unset inputs as "")."""
    env = os.environ if env is None else env
    value = env.get(input_variable(name), "")
    if trim:
        value = value.strip()
    if value:
        return value
    if required:
        raise ActionsCommandError(f"input `{name}` is required (environment variable {input_variable(name)})")
    return default


def get_bool_input(name: str, *, default: bool = False, env: Mapping[str, str] | None = None) -> bool:
    """YAML 1.2 core-schema booleans only, as @actions/core: anything else is an error, not False."""
    value = get_input(name, env=env)
    if value is None:
        return default
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ActionsCommandError(f"input `{name}` must be true or false, not {value!r}")


def get_multiline_input(name: str, *, env: Mapping[str, str] | None = None) -> list[str]:
    value = get_input(name, env=env, trim=False) or ""
    return [line.strip() for line in value.splitlines() if line.strip()]


# -- file commands -----------------------------------------------------------------------------


def _file_command_entry(name: str, value: str) -> str:
    if not name or "\n" in name or "\r" in name or "<<" in name or "=" in name:
        raise ActionsCommandError(f"output name {name!r} cannot be written to $GITHUB_OUTPUT")
    while True:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in value:  # astronomically unlikely, but cheap to rule out
            break
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def set_output(name: str, value: object, *, env: Mapping[str, str] | None = None,
               out: IO[str] | None = None) -> bool:
    """Append an output to $GITHUB_OUTPUT. False (and a warning on `out`) outside Actions: the
    deprecated `::set-output` command is never used."""
    env = os.environ if env is None else env
    path = env.get("GITHUB_OUTPUT")
    if not path:
        warning(f"GITHUB_OUTPUT is not set; output {name} was not written", out=out)
        return False
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(_file_command_entry(name, "" if value is None else str(value)))
    return True


def append_step_summary(markdown: str, *, env: Mapping[str, str] | None = None,
                        limit: int = STEP_SUMMARY_LIMIT) -> bool:
    """Append Markdown to the job summary, keeping the file under GitHub's 1 MiB (bytes) limit:
    past it the whole summary is dropped, so the text is cut (at a line) with a note instead."""
    env = os.environ if env is None else env
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    file = Path(path)
    used = file.stat().st_size if file.exists() else 0
    data = markdown if markdown.endswith("\n") else markdown + "\n"
    room = limit - used
    encoded = data.encode("utf-8")
    if len(encoded) > room:
        note = "\n\n*(cut here: GitHub keeps at most 1 MiB of job summary per step)*\n"
        keep = max(0, room - len(note.encode("utf-8")))
        if keep == 0:
            return False
        cut = encoded[:keep].decode("utf-8", errors="ignore")
        cut = cut[: cut.rfind("\n") + 1] if "\n" in cut else cut
        data = cut + note
    with open(file, "a", encoding="utf-8") as handle:
        handle.write(data)
    return True


# -- workflow commands -------------------------------------------------------------------------


def _emit(line: str, out: IO[str] | None) -> None:
    stream = out or sys.stdout
    stream.write(line + "\n")
    stream.flush()


def annotation(kind: str, message: str, *, file: str | None = None, line: int | None = None,
               end_line: int | None = None, col: int | None = None, end_column: int | None = None,
               title: str | None = None, out: IO[str] | None = None) -> str:
    """An error/warning/notice annotation (shown on the run's summary and, with file, in the diff)."""
    if kind not in ("error", "warning", "notice"):
        raise ActionsCommandError(f"unknown annotation kind {kind!r}")
    text = command(kind, message, title=title, file=file, line=line, endLine=end_line, col=col,
                   endColumn=end_column)
    _emit(text, out)
    return text


def error(message: str, **kw: object) -> str:
    return annotation("error", message, **kw)  # type: ignore[arg-type]


def warning(message: str, **kw: object) -> str:
    return annotation("warning", message, **kw)  # type: ignore[arg-type]


def notice(message: str, **kw: object) -> str:
    return annotation("notice", message, **kw)  # type: ignore[arg-type]


def debug(message: str, *, out: IO[str] | None = None) -> None:
    _emit(command("debug", message), out)


def add_mask(value: str, *, out: IO[str] | None = None) -> None:
    """Ask the runner to mask `value` in the log. The runner masks line by line, so a multi-line
    secret is masked as a whole and each of its lines too."""
    if not value:
        return
    lines = [value] + ([part for part in value.splitlines() if part.strip()] if "\n" in value else [])
    for item in dict.fromkeys(lines):
        _emit(command("add-mask", item), out)


@contextlib.contextmanager
def group(title: str, *, out: IO[str] | None = None) -> Iterator[None]:
    """A foldable section of the log."""
    _emit(command("group", title), out)
    try:
        yield
    finally:
        _emit("::endgroup::", out)


@contextlib.contextmanager
def stop_commands(*, out: IO[str] | None = None) -> Iterator[str]:
    """Lines printed inside are not read as workflow commands (for untrusted text)."""
    token = secrets.token_hex(16)
    _emit(f"::stop-commands::{token}", out)
    try:
        yield token
    finally:
        _emit(f"::{token}::", out)


def echo_untrusted(text: str, *, out: IO[str] | None = None) -> None:
    with stop_commands(out=out):
        stream = out or sys.stdout
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()


def in_actions(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("GITHUB_ACTIONS") == "true"
