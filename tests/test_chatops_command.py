"""The comment parser: a table of real-looking comments, then properties over any text."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kfops_action.chatops.command import (ALIASES, COMMANDS, BadArguments, NearMiss, NotACommand, ParsedCommand,
                                          parse, split_first_line)

P = ParsedCommand

# (comment, expected result); for BadArguments and NotACommand only the type and a fragment of
# the message are compared, written as (Type, "fragment").
TABLE: list[tuple[str, object]] = [
    # plain commands, aliases, arguments
    ("/build", P("build", "build")),
    ("/run", P("run", "run")),
    ("/build_run", P("build_run", "build_run")),
    ("/build-run", P("build_run", "build-run")),
    ("/help", P("help", "help")),
    ("/status", P("status", "status")),
    ("/cancel --run-id 3f2a-99", P("cancel", "cancel", run_id="3f2a-99")),
    ("/deploy", P("deploy", "deploy")),
    ("/staging_deploy --dry-run", P("staging_deploy", "staging_deploy", dry_run=True)),
    ("/deploy --run-id=abc123 --force", P("deploy", "deploy", run_id="abc123", force=True)),
    ("/build_run --set pipeline.parameters.epochs=5 --set pipeline.parameters.learning_rate=0.01",
     P("build_run", "build_run", sets=("pipeline.parameters.epochs=5", "pipeline.parameters.learning_rate=0.01"))),
    # values may contain '=', and quotes work shell-style (nested quotes kept)
    ("/run --set pipeline.parameters.query=a=b", P("run", "run", sets=("pipeline.parameters.query=a=b",))),
    ("/run --set=pipeline.parameters.query=a=b", P("run", "run", sets=("pipeline.parameters.query=a=b",))),
    ("/run --set 'pipeline.description=a \"quoted\" word'",
     P("run", "run", sets=('pipeline.description=a "quoted" word',))),
    ("/run --set \"pipeline.parameters.tag=it's fine\"", P("run", "run", sets=("pipeline.parameters.tag=it's fine",))),
    ("/run --set pipeline.parameters.note=\"two words\"", P("run", "run", sets=("pipeline.parameters.note=two words",))),
    # the rest of the comment is free text; blank lines and indentation before the command are fine
    ("/build_run --dry-run\n\nTrying a smaller learning rate, see #12.\n/deploy",
     P("build_run", "build_run", dry_run=True, text="Trying a smaller learning rate, see #12.\n/deploy")),
    ("\n\n   \n/run\nthanks", P("run", "run", text="thanks")),
    ("   /run", P("run", "run")),
    ("/run   \t  ", P("run", "run")),
    # CRLF and lone CR, as browsers send them
    ("/build\r\n\r\nplease review\r\n", P("build", "build", text="please review")),
    ("\r\n/run --dry-run\r\nmore", P("run", "run", dry_run=True, text="more")),
    ("/help\rold mac line ends", P("help", "help", text="old mac line ends")),
    # no-break spaces between arguments (pasted from a chat) count as blanks
    ("/run\u00a0--dry-run", P("run", "run", dry_run=True)),
    ("\ufeff/build", P("build", "build")),
    # very long lines: a long free text, a long value
    ("/run\n" + "x" * 100_000, P("run", "run", text="x" * 100_000)),
    ("/run --set pipeline.description=" + "y" * 60_000, P("run", "run", sets=("pipeline.description=" + "y" * 60_000,))),
    # not commands: quoted, fenced, indented as code, mid-sentence, inline code, look-alikes of /
    ("> /deploy", (NotACommand, "quote")),
    ("> /deploy\n\nwhy did this not deploy?", (NotACommand, "quote")),
    ("```\n/deploy\n```", (NotACommand, "code block")),
    ("~~~\n/build\n~~~", (NotACommand, "code block")),
    ("`/build` did not work for me", (NotACommand, "inline code")),
    ("    /deploy", (NotACommand, "indented")),
    ("\t/deploy", (NotACommand, "indented")),
    ("\u3000/deploy", (NotACommand, "indented")),
    ("Could someone /deploy this?", (NotACommand, "middle of the first line")),
    ("LGTM\n/deploy", (NotACommand, "does not start with /")),
    ("\u2215deploy", (NotACommand, "U+2215 DIVISION SLASH")),
    ("\uff0fbuild", (NotACommand, "U+FF0F FULLWIDTH SOLIDUS")),
    ("\u2044run", (NotACommand, "U+2044 FRACTION SLASH")),
    ("\u29f8build_run", (NotACommand, "U+29F8 BIG SOLIDUS")),
    ("\u200b/deploy", (NotACommand, "does not start with /")),
    ("", (NotACommand, "empty")),
    ("   \r\n\t\n", (NotACommand, "empty")),
    ("/", (NotACommand, "lone /")),
    ("/ build", (NotACommand, "lone /")),
    # other bots' commands and paths are not ours, and not near misses
    ("/approve", (NotACommand, "not a kfops command")),
    ("/lgtm", (NotACommand, "not a kfops command")),
    ("/retest", (NotACommand, "not a kfops command")),
    ("/usr/bin/python crashed", (NotACommand, "not a kfops command")),
    ("/" + "z" * 5000, (NotACommand, "not a kfops command")),
    # near misses of ours
    ("/depoly", NearMiss("depoly", "deploy")),
    ("/buildrun", NearMiss("buildrun", "build_run")),
    ("/build-rn", NearMiss("build-rn", "build_run")),
    ("/bulid --dry-run", NearMiss("bulid", "build")),
    ("/staging-deploy", NearMiss("staging-deploy", "staging_deploy")),
    ("/Build", NearMiss("Build", "build")),
    ("/HELP", NearMiss("HELP", "help")),
    ("/canel", NearMiss("canel", "cancel")),
    ("/build.", NearMiss("build.", "build")),
    # bad arguments: the reply shows the usage
    ("/run --set \"pipeline.parameters.x=1", (BadArguments, "no closing quotation")),
    ("/run --set pipeline.parameters.x=1\\", (BadArguments, "no escaped character")),
    ("/run please use more epochs", (BadArguments, "free text goes on the lines after")),
    ("/run --dryrun", (BadArguments, "did you mean --dry-run")),
    ("/build --force", (BadArguments, "/build does not take --force")),
    ("/help --dry-run", (BadArguments, "/help does not take --dry-run")),
    ("/run --set", (BadArguments, "--set needs a value")),
    ("/run --set --dry-run", (BadArguments, "--set needs a value")),
    ("/run --set epochs=5", (BadArguments, "only pipeline.* may be set")),
    ("/run --set deployment.production.canary_percent=100", (BadArguments, "only pipeline.* may be set")),
    ("/run --set chatops.allow_forks=true", (BadArguments, "only pipeline.* may be set")),
    ("/run --set pipeline.parameters.epochs", (BadArguments, "expected KEY=VALUE")),
    ("/run --set pipeline..epochs=1", (BadArguments, "not a dotted path")),
    ("/deploy --run-id a --run-id b", (BadArguments, "given twice")),
    ("/deploy --run-id '../../etc'", (BadArguments, "is not a run id")),
    ("/deploy --force=yes", (BadArguments, "--force takes no value")),
    ("/run --set pipeline.parameters.x=a\x07b", (BadArguments, "U+0007")),
    ("/run --set pipeline.parameters.x=a\u202eb", (BadArguments, "U+202E")),
    ("/run --set pipeline.parameters.x=\u200b", (BadArguments, "U+200B")),
    ("/run -f", (BadArguments, "unknown option")),
]


@pytest.mark.parametrize(("comment", "expected"), TABLE, ids=[repr(c[:40]) for c, _ in TABLE])
def test_comment_table(comment: str, expected: object) -> None:
    result = parse(comment)
    if isinstance(expected, tuple):
        kind, fragment = expected
        assert isinstance(result, kind), result
        message = result.reason if isinstance(result, NotACommand) else result.problem  # type: ignore[union-attr]
        assert fragment in message
    else:
        assert result == expected


def test_display_quotes_arguments_so_they_can_be_pasted_back() -> None:
    parsed = parse("/build-run --dry-run --set 'pipeline.description=a b'")
    assert isinstance(parsed, ParsedCommand)
    assert parsed.display() == "/build_run --set 'pipeline.description=a b' --dry-run"
    assert parse(parsed.display()) == ParsedCommand("build_run", "build_run", ("pipeline.description=a b",),
                                                    dry_run=True)


def test_bad_arguments_carry_the_usage() -> None:
    result = parse("/deploy --set pipeline.x=1")
    assert isinstance(result, BadArguments)
    assert result.usage == "/deploy [to ENVIRONMENT] [--run-id ID] [--sha COMMIT] [--force] [--dry-run]"


def test_echoed_text_is_shortened_and_printable() -> None:
    result = parse("/run " + "w" * 500)
    assert isinstance(result, BadArguments)
    assert len(result.problem) < 200
    result = parse("/run a\x1b[31mb")
    assert isinstance(result, BadArguments) and "\x1b" not in result.problem


def test_non_text_is_not_a_command() -> None:
    assert isinstance(parse(None), NotACommand)
    assert isinstance(parse(b"/build"), NotACommand)


# --- properties -------------------------------------------------------------------------------

OURS = [*COMMANDS, *ALIASES]
# Text built from the pieces that matter (commands, slashes and look-alikes, quotes, line breaks,
# fences, options) as well as arbitrary characters.
PIECES = st.sampled_from([f"/{c}" for c in OURS] + [
    "/", "\u2215", "\uff0f", " ", "  ", "    ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u200b",
    "\ufeff", "> ", "```", "`", "'", '"', "\\", "=", "--set", "--set=", "pipeline.parameters.x=1",
    "--run-id", "--force", "--dry-run", "--", "-", "depoly", "buildrun", "x" * 300, "\x00", "\u202e",
    "é", "中", "#", "@alice"])
COMMENTS = st.one_of(st.text(), st.lists(st.one_of(PIECES, st.text(max_size=5)), max_size=25).map("".join))


def _first_line(text: str) -> str | None:
    found = split_first_line(text.removeprefix("\ufeff"))
    return None if found is None else found[0]


@settings(max_examples=2000, deadline=None)
@given(COMMENTS)
@example("/build\r\n")
@example("   /deploy --force")
@example("/run '")
def test_parser_never_raises_and_commands_only_start_the_first_line(text: str) -> None:
    result = parse(text)
    assert isinstance(result, (ParsedCommand, NearMiss, BadArguments, NotACommand))
    first = _first_line(text)
    if isinstance(result, (ParsedCommand, BadArguments)):
        # the first non-empty line starts (after at most 3 spaces) with one of our commands
        assert first is not None
        assert re.match(r" {0,3}/(" + "|".join(map(re.escape, OURS)) + r")(\s|$)", first), first
        typed = result.typed if isinstance(result, ParsedCommand) else None
        if typed is not None:
            assert first.lstrip(" ").startswith("/" + typed)
            assert result.name == ALIASES.get(typed, typed)
    if isinstance(result, NearMiss):
        assert first is not None and first.strip().startswith("/" + result.typed)
        assert result.suggestion in COMMANDS
    if first is None or not first.strip().startswith("/"):
        assert isinstance(result, NotACommand)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(OURS), st.text(), st.sampled_from(["\n", "\r\n", "\r"]))
def test_free_text_after_a_command_never_changes_it(name: str, rest: str, newline: str) -> None:
    result = parse(f"/{name}{newline}{rest}")
    assert isinstance(result, ParsedCommand)
    assert result.name == ALIASES.get(name, name)
    assert result.arguments == ()


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(OURS), st.text(min_size=1).filter(lambda t: t.strip() != ""))
def test_quoted_or_fenced_commands_are_never_commands(name: str, before: str) -> None:
    for text in (f"> /{name}", f"```\n/{name}\n```", f"    /{name}", f"\uff0f{name}", f"\u2215{name}"):
        assert isinstance(parse(text), NotACommand)
    # a first line of prose makes any later command free text
    prose = before.replace("\r", " ").replace("\n", " ").lstrip("\ufeff")
    if not prose.lstrip().startswith("/") and prose.strip():
        assert isinstance(parse(f"{prose}\n/{name}"), NotACommand)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")),
               min_size=1))
def test_any_printable_set_value_round_trips_through_quoting(value: str) -> None:
    import shlex

    item = f"pipeline.parameters.x={value}"
    result = parse(f"/run --set {shlex.quote(item)}")
    assert result == ParsedCommand("run", "run", (item,))
