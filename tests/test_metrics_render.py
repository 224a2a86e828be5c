"""Rendering the comparison: markdown table, Mermaid chart, terminal table.

Metric and task names come from the pipeline under test, so they are hostile input. The markdown is
checked with a real CommonMark parser with GitHub-style tables (markdown-it) and the chart with
Mermaid's own parser (both from npm, `bash .ci/install-metrics-infra.sh`); the structural checks in
pure Python run everywhere.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import require_infra
from hypothesis import given, settings
from hypothesis import strategies as st
from fakes.metrics_infra import HOW_TO, markdown_html, mermaid_parse, node_dir

from kfops_action.metrics.compare import BaselineInfo, Comparison, build_comparison
from kfops_action.metrics.config import MetricsConfig
from kfops_action.metrics.render import (MAX_NAME, markdown_comparison, mermaid_chart, mermaid_label,
                                         plain_text, terminal_comparison)

HOSTILE = [
    "a|b", "`rm -rf /`", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
    "**bold**", "[link](https://evil.invalid)", "![img](https://evil.invalid/x.png)",
    "line1\nline2", "@octocat", "x" * 500, "précision ✓ 精度", "\u202eevil\u202c",
    "\x1b[31mred\x1b[0m", "&lt;b&gt;", "back\\slash", "#1", "---", "|---|---|", "<!-- open",
    "</details>", "```mermaid", "~~~", '"quoted"', "%% comment", "a; b", "[x]: https://e.invalid",
    "${{ secrets.TOKEN }}", "\t tab", "", " ",
]
PROD = BaselineInfo("production", "run-`base`|<b>", "InferenceService a/b, PR #3")


def hostile_comparison(baseline: BaselineInfo = PROD) -> Comparison:
    candidate = {"evaluate": {name: 0.5 + i / 100 for i, name in enumerate(HOSTILE)},
                 "<b>task|x</b>": {"accuracy": 0.9}}
    base = {"evaluate": {name: 0.4 + i / 100 for i, name in enumerate(HOSTILE[:-3])},
            "<b>task|x</b>": {"accuracy": 0.8}, "@team": {"f1": 0.7}}
    return build_comparison("run-pr", candidate, base, baseline, MetricsConfig(key_metric="a|b"),
                            source="mlmd")


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


ALLOWED_TAGS = {"h3", "p", "table", "thead", "tbody", "tr", "th", "td", "strong", "code", "pre",
                "details", "summary", "ul", "li", "em"}


def expected_cell(name: str) -> str:
    return plain_text(name, MAX_NAME).replace("@", "@\u200b")


def _tools() -> Path:
    folder = node_dir()
    if folder is None:
        require_infra("markdown-it and Mermaid's parser (npm)", HOW_TO)
    assert folder is not None
    return folder


# -- markdown -----------------------------------------------------------------------------------


def test_hostile_names_stay_text_in_one_table_row_each() -> None:
    comparison = hostile_comparison()
    text = markdown_comparison(comparison)
    html = markdown_html(_tools(), [text])[0]
    parser = _Html()
    parser.feed(html)
    assert set(parser.tags) <= ALLOWED_TAGS, set(parser.tags) - ALLOWED_TAGS
    table = [row for row in parser.rows]
    assert table[0] == ["Task", "Metric", "This run", "Baseline", "Δ", ""]
    body = table[1:]
    assert len(body) == len(comparison.rows)
    assert all(len(row) == 6 for row in body)
    expected = {(expected_cell(r.task), expected_cell(r.name)) for r in comparison.rows}
    assert {(row[0], row[1]) for row in body} == expected
    assert "<script" not in html and "<img" not in html and "evil.invalid" not in \
        re.sub(r">[^<]*<", "><", html)  # no link or image element anywhere


def test_no_mention_control_or_bidi_character_survives() -> None:
    text = markdown_comparison(hostile_comparison())
    assert not re.search(r"@(?!\u200b)", text)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", text)


def test_the_section_fits_one_comment_even_with_thousands_of_metrics() -> None:
    many = {f"task-{t}": {f"metric_{m}_" + "x" * 60: m / 1000 for m in range(500)}
            for t in range(10)}
    comparison = build_comparison("r", many, many, PROD, MetricsConfig())
    text = markdown_comparison(comparison, max_chars=20_000)
    assert len(text) <= 20_000
    left = re.search(r"(\d+) more rows not shown", text)
    assert left is not None
    shown = sum(1 for line in text.splitlines() if line.startswith("| task\\-"))
    assert shown + int(left.group(1)) == 5000
    html = markdown_html(_tools(), [text])[0]
    assert html.count("<tr>") == shown + 1


def test_long_names_are_cut() -> None:
    text = markdown_comparison(hostile_comparison())
    assert "x" * MAX_NAME not in text and "x" * (MAX_NAME - 1) + "…" in text


def test_no_baseline_says_so_with_the_reasons() -> None:
    comparison = build_comparison("r", {"evaluate": {"accuracy": 0.9}}, None,
                                  BaselineInfo("none", notes=("the production model: none found",
                                                              "the default branch: <b>x</b>")),
                                  MetricsConfig())
    text = markdown_comparison(comparison)
    assert "No baseline to compare with" in text and "| Task | Metric | Value |" in text
    assert "the production model\\: none found" in text and "\\<b\\>x\\</b\\>" in text


def test_no_metrics_at_all() -> None:
    comparison = build_comparison("r", {}, None, BaselineInfo("none"), MetricsConfig(),
                                  notes=("ML Metadata: HTTP 404",))
    assert "No metrics could be read for this run." in markdown_comparison(comparison)
    assert "HTTP 404" in terminal_comparison(comparison)


def test_arrows_follow_the_change_and_words_the_verdict() -> None:
    comparison = build_comparison("r", {"e": {"accuracy": 0.9, "log_loss": 0.1, "rows": 3.0,
                                              "f1": 0.5, "new": 1.0}},
                                  {"e": {"accuracy": 0.8, "log_loss": 0.2, "rows": 2.0, "f1": 0.6,
                                         "old": 1.0}},
                                  BaselineInfo("default-branch", "r0"), MetricsConfig())
    text = markdown_comparison(comparison)
    assert "| e | accuracy | 0.9 | 0.8 | +0.1 | ▲ better |" in text
    assert "| e | log\\_loss | 0.1 | 0.2 | -0.1 | ▼ better |" in text
    assert "| e | f1 | 0.5 | 0.6 | -0.1 | ▼ worse |" in text
    assert "| e | rows | 3 | 2 | +1 |  |" in text  # unknown direction: no arrow
    assert "| e | new | 1 | — |  | new |" in text and "| e | old | — | 1 |  | dropped |" in text
    assert "2 better · 1 worse · 1 changed (direction unknown) · 1 new · 1 dropped" in text
    assert "the latest successful run of the default branch (run `r0`)" in text


# -- Mermaid -------------------------------------------------------------------------------------


def chart_body(markdown: str) -> str:
    match = re.search(r"```mermaid\n(.*?)\n```", markdown, re.S)
    assert match is not None
    return match.group(1)


def check_shape(chart: str) -> None:
    """xychart-beta, quoted safe labels, as many bar (and line) values as labels."""
    lines = chart.splitlines()
    assert lines[0] == "xychart-beta"
    labels = re.fullmatch(r'    x-axis \[(.*)\]', lines[2])
    assert labels is not None
    names = re.findall(r'"([^"]*)"', labels.group(1))
    assert all(re.fullmatch(r"[A-Za-z0-9 _./#~-]+", n) for n in names) and len(set(names)) == \
        len(names)
    for line in lines[4:]:
        values = re.fullmatch(r"    (bar|line) \[(.*)\]", line)
        assert values is not None
        numbers = values.group(2).split(", ")
        assert len(numbers) == len(names)
        assert all(re.fullmatch(r"-?\d+(\.\d+)?", n) for n in numbers)


CHARTS = {
    "hostile": hostile_comparison(),
    "no baseline": build_comparison("r", {"e": {"accuracy": 0.9, "f1": 0.1}}, None,
                                    BaselineInfo("none"), MetricsConfig()),
    "large values": build_comparison("r", {"e": {"rows": 1500.0, "latency": -3.25e-7}},
                                     {"e": {"rows": 1200.0, "latency": 1e9}},
                                     BaselineInfo("default-branch", "r0"), MetricsConfig()),
    "same label twice": build_comparison("r", {"e": {"a|b": 0.1, "a<b": 0.2, "a>b": 0.3}},
                                         {"e": {"a|b": 0.2, "a<b": 0.2, "a>b": 0.2}}, PROD,
                                         MetricsConfig()),
    "many": build_comparison("r", {"t": {f"m{i}": i / 40 for i in range(40)}},
                             {"t": {f"m{i}": i / 50 for i in range(40)}}, PROD, MetricsConfig()),
}


@pytest.mark.parametrize("name", CHARTS)
def test_chart_shape(name: str) -> None:
    check_shape(chart_body(markdown_comparison(CHARTS[name])))


def test_charts_parse_with_mermaids_own_parser() -> None:
    bodies = [chart_body(markdown_comparison(c)) for c in CHARTS.values()]
    results = mermaid_parse(_tools(), bodies)
    assert results == [{"ok": True, "type": "xychart"}] * len(bodies), results


def test_the_parser_does_reject_a_broken_chart() -> None:
    """The check above means something: Mermaid's parser refuses what our escaping prevents."""
    broken = ['xychart-beta\n    x-axis ["a"b"]\n    bar [1]',
              'xychart-beta\n    x-axis ["a"]\n    bar [1e-7]']
    assert [r["ok"] for r in mermaid_parse(_tools(), broken)] == [False, False]


def test_chart_keeps_scores_on_a_0_to_1_axis_and_skips_what_cannot_be_drawn() -> None:
    comparison = build_comparison("r", {"e": {"accuracy": 0.9, "rows": 150.0, "nan": float("nan"),
                                              "new": 0.5}},
                                  {"e": {"accuracy": 0.8, "rows": 140.0, "nan": 0.1}}, PROD,
                                  MetricsConfig())
    chart = mermaid_chart(comparison)
    assert 'x-axis ["accuracy"]' in chart and "0 --> 1" in chart
    assert "bar [0.9]" in chart and "line [0.8]" in chart
    assert mermaid_chart(build_comparison("r", {"e": {"x": float("nan")}}, None,
                                          BaselineInfo("none"), MetricsConfig())) == ""


def test_mermaid_labels() -> None:
    assert mermaid_label("précision") == "precision"
    assert mermaid_label('a"b`c<d>|e') == "a_b_c_d__e"
    assert mermaid_label("精度") == "_"
    assert len(mermaid_label("y" * 100)) == 24


# -- terminal ------------------------------------------------------------------------------------


def test_terminal_table_is_one_line_per_metric_and_escape_free() -> None:
    comparison = hostile_comparison()
    text = terminal_comparison(comparison)
    assert "\x1b" not in text and "\u202e" not in text
    lines = text.splitlines()
    assert lines[0].startswith("Compared with the model in production (run run-`base`|<b>, ")
    assert lines[0].endswith("metrics read from ML Metadata:")
    table = lines[2:2 + 2 + len(comparison.rows)]
    assert table[0].split() == ["task", "metric", "this", "run", "baseline", "delta"]
    assert len(table) == 2 + len(comparison.rows)
    assert any(re.match(r"evaluate +a\|b \* ", line) for line in table)  # the key metric


def test_terminal_without_baseline() -> None:
    comparison = build_comparison(None, {"evaluate": {"accuracy": 0.9}}, None,
                                  BaselineInfo("none", notes=("no Kubeflow connection to read a "
                                                              "baseline run's metrics",)),
                                  MetricsConfig(), source="local")
    assert terminal_comparison(comparison).splitlines() == [
        "No baseline to compare with; metrics read from the local run's outputs:", "",
        "task      metric    value", "--------  --------  -----", "evaluate  accuracy  0.9",
        "  no baseline: no Kubeflow connection to read a baseline run's metrics"]


# -- property: any names, any values ----------------------------------------------------------


def _cells(line: str) -> list[str]:
    """Split a table line on the pipes markdown sees (a backslash escapes the next character)."""
    cells, current, i = [], "", 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            current += line[i:i + 2]
            i += 2
            continue
        if line[i] == "|":
            cells.append(current)
            current = ""
        else:
            current += line[i]
        i += 1
    cells.append(current)
    return cells[1:-1]


names = st.text(min_size=0, max_size=120)
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12))
metric_maps = st.dictionaries(names, st.dictionaries(names, values, max_size=6), max_size=4)


@settings(max_examples=150, deadline=None)
@given(metric_maps, st.one_of(st.none(), metric_maps), st.integers(2_000, 30_000))
def test_any_names_and_values_give_a_well_formed_bounded_section(
        candidate: dict[str, dict[str, float]], baseline: dict[str, dict[str, float]] | None,
        budget: int) -> None:
    candidate = {t: {n: float(v) for n, v in m.items()} for t, m in candidate.items()}
    baseline = None if baseline is None else \
        {t: {n: float(v) for n, v in m.items()} for t, m in baseline.items()}
    info = BaselineInfo("none") if baseline is None else PROD
    comparison = build_comparison("r", candidate, baseline, info, MetricsConfig())
    text = markdown_comparison(comparison, max_chars=budget)
    assert len(text) <= budget
    table = [line for line in text.splitlines() if line.startswith("|")]
    width = 6 if comparison.has_baseline else 3
    assert all(len(_cells(line)) == width for line in table), table
    if "```mermaid" in text:
        check_shape(chart_body(text))
    assert "\x1b" not in terminal_comparison(comparison)
