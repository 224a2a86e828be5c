"""The GitHub Actions protocol as the runner reads it: inputs, output files, commands, escaping."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from kfops_action.github import actions_commands as ac


def test_inputs_keep_hyphens_and_are_upper_cased() -> None:
    env = {"INPUT_GITHUB-TOKEN": " t0k3n \n", "INPUT_MERGE_METHOD": "squash", "INPUT_EMPTY": ""}
    assert ac.input_variable("github-token") == "INPUT_GITHUB-TOKEN"
    assert ac.input_variable("merge method") == "INPUT_MERGE_METHOD"
    assert ac.get_input("github-token", env=env) == "t0k3n"
    assert ac.get_input("merge method", env=env) == "squash"
    assert ac.get_input("empty", env=env, default="d") == "d"
    with pytest.raises(ac.ActionsCommandError, match="INPUT_MISSING"):
        ac.get_input("missing", required=True, env=env)


def test_boolean_inputs_are_yaml_core_booleans_only() -> None:
    env = {"INPUT_A": "true", "INPUT_B": "False", "INPUT_C": "yes"}
    assert ac.get_bool_input("a", env=env) is True
    assert ac.get_bool_input("b", env=env) is False
    assert ac.get_bool_input("unset", env=env, default=True) is True
    with pytest.raises(ac.ActionsCommandError, match="true or false"):
        ac.get_bool_input("c", env=env)


def test_multiline_input() -> None:
    assert ac.get_multiline_input("x", env={"INPUT_X": "a\n\n  b \n"}) == ["a", "b"]


def _read_outputs(path: Path) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT the way the runner does."""
    outputs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines) and lines[i]:
        name, _, delimiter = lines[i].partition("<<")
        end = lines.index(delimiter, i + 1)
        outputs[name] = "\n".join(lines[i + 1:end])
        i = end + 1
    return outputs


def test_outputs_use_a_random_heredoc_delimiter(tmp_path: Path) -> None:
    out = tmp_path / "output"
    env = {"GITHUB_OUTPUT": str(out)}
    hostile = "line one\nEOF\nghadelimiter_\nrun-id<<EOF\nforged\nEOF"
    assert ac.set_output("run-id", "abc-123", env=env)
    assert ac.set_output("report", hostile, env=env)
    assert _read_outputs(out) == {"run-id": "abc-123", "report": hostile}
    delimiters = re.findall(r"<<(ghadelimiter_[0-9a-f]{32})", out.read_text())
    assert len(set(delimiters)) == 2


def test_output_names_cannot_smuggle_lines(tmp_path: Path) -> None:
    with pytest.raises(ac.ActionsCommandError):
        ac.set_output("a\nb", "x", env={"GITHUB_OUTPUT": str(tmp_path / "o")})


def test_outputs_outside_actions_warn_and_never_use_set_output() -> None:
    out = io.StringIO()
    assert ac.set_output("x", "1", env={}, out=out) is False
    assert "set-output" not in out.getvalue() and out.getvalue().startswith("::warning::")


def test_annotation_escapes_message_and_properties() -> None:
    out = io.StringIO()
    line = ac.error("100% failed\r\nsecond line", file="pipe,line:s.py", line=12, col=3,
                    title="kfops: build", out=out)
    assert line == ("::error title=kfops%3A build,file=pipe%2Cline%3As.py,line=12,col=3::"
                    "100%25 failed%0D%0Asecond line")
    assert out.getvalue() == line + "\n"
    assert "\n" not in line  # one command, one line: nothing can follow it as a new command


def test_warning_and_notice_without_properties() -> None:
    out = io.StringIO()
    ac.warning("careful", out=out)
    ac.notice("fyi", out=out)
    assert out.getvalue() == "::warning::careful\n::notice::fyi\n"


def test_group_and_add_mask() -> None:
    out = io.StringIO()
    with ac.group("Build images", out=out):
        ac.add_mask("multi\nline secret", out=out)
    assert out.getvalue().splitlines() == [
        "::group::Build images",
        "::add-mask::multi%0Aline secret",
        "::add-mask::multi",
        "::add-mask::line secret",
        "::endgroup::",
    ]


def test_untrusted_text_is_echoed_between_stop_commands() -> None:
    out = io.StringIO()
    ac.echo_untrusted("/build_run\n::add-mask::nothing\n::error::forged", out=out)
    lines = out.getvalue().splitlines()
    token = lines[0].removeprefix("::stop-commands::")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert lines[-1] == f"::{token}::"
    assert lines[1:-1] == ["/build_run", "::add-mask::nothing", "::error::forged"]


def test_step_summary_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(path)}
    assert ac.append_step_summary("# one", env=env)
    assert ac.append_step_summary("two\n", env=env)
    assert path.read_text() == "# one\ntwo\n"
    assert ac.append_step_summary("x", env={}) is False


def test_step_summary_stays_under_githubs_limit(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(path)}
    text = "".join(f"line {i} é\n" for i in range(5000))  # multi-byte characters count as bytes
    assert ac.append_step_summary(text, env=env, limit=20_000)
    written = path.read_bytes()
    assert len(written) <= 20_000
    assert written.decode("utf-8").endswith("job summary per step)*\n")
    assert ac.append_step_summary("more", env=env, limit=20_000) is False or len(path.read_bytes()) <= 20_000
