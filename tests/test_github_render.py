"""The Markdown a reviewer reads in the PR: facts in order, user text neutralised, logs folded."""

from __future__ import annotations

import re

from kfops_action.errors import KfopsError, Problem
from kfops_action.github.render import (ErrorInfo, LogBlock, Param, Report, Task, code, fold_log, read_state_marker,
                                        render, render_summary, state_marker, tail)
from kfops_action.github.splitting import split_body
from kfops_action.pipeline.parameters import RunParameter

SHA = "3f2a9c1d0b4e5f60718293a4b5c6d7e8f9012345"


def _report(**changes: object) -> Report:
    base = dict(command="/build_run", state="running", actor="alice", sha=SHA, run_name="quickstart-3f2a9c1-pr7",
                run_url="https://kubeflow.example.invalid/#/runs/details/abc",
                parameters=[Param("learning_rate", 0.01, True), Param("epochs", 5)],
                durations=[("build", 42.0), ("upload", 3.2)])
    base.update(changes)
    return Report(**base)  # type: ignore[arg-type]


def test_running_report_shows_state_run_link_durations_and_parameters() -> None:
    body = render(_report())
    lines = body.splitlines()
    assert lines[0] == "### 🏃 `/build_run` running on 3f2a9c1d0b4e for @alice"
    assert "**Run:** [quickstart-3f2a9c1-pr7](https://kubeflow.example.invalid/#/runs/details/abc)" in body
    assert "**Durations:** build 42s, upload 3s" in body
    assert "| parameter | value | overridden |" in body
    assert "| `learning_rate` | `0.01` | yes |" in body
    assert "| `epochs` | `5` |  |" in body


def test_parameters_from_the_pipeline_module_render_directly() -> None:
    params = [RunParameter("lr", 0.5, "NUMBER_DOUBLE", "override"), RunParameter("name", "m", "STRING", "default")]
    body = render(_report(parameters=params))
    assert "| `lr` | `0.5` | yes |" in body and "| `name` | `m` |  |" in body


def test_user_values_cannot_break_the_table_or_ping_people() -> None:
    body = render(_report(parameters=[Param("note", "@team | `rm -rf` \n[x](http://evil)", True)]))
    row = next(line for line in body.splitlines() if line.startswith("| `note`"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 4  # the row's own four cell borders, no more
    assert "``@team \\| `rm -rf`  [x](http://evil)``" in row


def test_code_spans_outlast_backticks_in_the_value() -> None:
    assert code("a``b") == "```a``b```"
    assert code("`x`") == "`` `x` ``"
    assert code("") == "` `"


def test_error_shows_one_line_cause_then_folded_details_and_fix() -> None:
    error = KfopsError("Pipeline failed to compile", [Problem("unknown parameter lerning_rate", "kfops.yaml:12:5")],
                       fix="fix the parameter name")
    body = render(_report(state="failed", errors=[ErrorInfo.from_exception(error)]))
    assert "### ❌ `/build_run` failed" in body
    assert "**Error:** Pipeline failed to compile\n**How to fix:** fix the parameter name" in body
    assert "<details><summary>Details</summary>\n\n```text\nkfops.yaml:12:5: unknown parameter lerning_rate\n```" in body


def test_exception_without_what_uses_type_and_first_line() -> None:
    info = ErrorInfo.from_exception(RuntimeError("boom\ntraceback line"))
    assert info.cause == "RuntimeError: boom" and info.details == "traceback line"


def test_warnings_and_tasks() -> None:
    body = render(_report(state="failed", warnings=["image cache miss", "see <http://x>"],
                          tasks=[Task("train", "FAILED", "OOMKilled\nmore"), Task("eval", "SKIPPED")]))
    assert "**Warnings:**\n- image cache miss\n- `see <http://x>`" in body
    assert "| `train` | failed | `OOMKilled` |" in body and "| `eval` | skipped |  |" in body


def test_long_log_is_folded_with_its_tail() -> None:
    log = "".join(f"line {i}\n" for i in range(10_000))
    body = render(_report(state="failed", logs=[LogBlock("Build log", log)]), log_chars=1000)
    assert "<details><summary>Build log (last " in body and "of 10000 lines)</summary>" in body
    assert "line 9999\n" in body and "line 1\n" not in body
    assert "earlier lines not shown: the full log is in the job summary" in body
    full = render_summary(_report(logs=[LogBlock("Build log", log)]))
    assert "line 0\n" in full and "line 9999\n" in full


def test_log_with_fences_cannot_escape_its_block() -> None:
    block = fold_log("Log", "before\n```\ninjected **markdown**\n````\nafter\n", max_chars=None)
    assert block.splitlines()[2] == "`````text"
    assert block.rstrip().endswith("`````\n\n</details>")


def test_tail_keeps_whole_lines() -> None:
    assert tail("aaa\nbbb\nccc\n", 6) == ("ccc\n", 2)
    assert tail("short", 100) == ("short", 0)


def test_state_marker_round_trips_and_cannot_close_the_comment() -> None:
    data = {"run_id": "r-1", "version": "v--> <script>", "n": -5, "nested": {"a": [1, "-->"]}}
    marker = state_marker(data)
    assert marker.count("-->") == 1 and marker.endswith(" -->") and "<script>" not in marker
    assert read_state_marker(f"text\n{marker}\nmore") == data
    assert read_state_marker("<!-- kfops:state {not json} -->") is None


def test_report_with_state_and_huge_log_splits_cleanly() -> None:
    log = "".join(f"{i:06d} training step loss=0.{i % 97:02d}\n" for i in range(200_000))
    body = render(_report(state="succeeded", logs=[LogBlock("Run log", log)], state_data={"run_id": "x"}),
                  log_chars=None)
    parts = split_body(body)
    assert len(parts) > 1 and all(len(p) <= 65_536 for p in parts)
    assert read_state_marker(parts[-1]) == {"run_id": "x"}


def test_sections_follow_the_tasks_in_the_comment_and_the_job_summary() -> None:
    section = "### Metrics\n\n| Task | Metric | Value |\n|---|---|---:|\n| evaluate | accuracy | 0.91 |\n"
    report = _report(state="succeeded", tasks=[Task("train", "SUCCEEDED")], sections=[section, ""],
                     logs=[LogBlock("log", "x\n" * 5)])
    for text in (render(report), render_summary(report)):
        assert text.index("| `train` | succeeded |  |") < text.index("### Metrics") < text.index("<details>")
        assert "| evaluate | accuracy | 0.91 |\n\n" in text
