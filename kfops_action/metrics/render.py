"""The comparison as markdown (PR comment and job summary), as a Mermaid chart, and as plain text
for the terminal.

Metric and task names come from the pipeline, i.e. from the PR being tested, so they are hostile
input here: a name must not break the table (pipes, newlines), inject markup or HTML, mention people
(@team), smuggle control or bidi characters, or blow up the comment's size. Every name goes through
`md_text` (markdown), `mermaid_label` (chart) or `plain_text` (terminal) and is length-limited, and
the whole section is kept under a character budget so it fits in one GitHub comment with the rest of
the report.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence

from .compare import BETTER, CHANGED, DROPPED, NEW, SAME, WORSE, Comparison, MetricRow

MAX_NAME = 80          # characters of a task or metric name in a table
MAX_LABEL = 24         # characters of a chart label
MAX_CHART_POINTS = 12
DEFAULT_BUDGET = 20_000  # characters of the whole markdown section

SOURCES = {"mlmd": "ML Metadata", "metrics-file": "the metrics file", "local": "the local run's "
           "outputs", "none": "nowhere"}
BASELINE_NAMES = {"production": "the model in production", "default-branch":
                  "the latest successful run of the default branch"}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&\"'=:$])")
_LABEL_OK = re.compile(r"[^A-Za-z0-9 _./#-]")


# -- escaping ---------------------------------------------------------------------------------


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def plain_text(text: str, limit: int = MAX_NAME) -> str:
    """One line, no control/bidi characters (no terminal escape sequences), at most `limit`."""
    return _shorten(_CONTROL.sub("?", " ".join(str(text).split())), limit)


def md_text(text: str, limit: int = MAX_NAME) -> str:
    """Literal text in a markdown table cell: every markdown/HTML special character is
    backslash-escaped (GitHub renders `\\<` as `<`, never as a tag), `@` cannot mention anyone."""
    clean = plain_text(text, limit)
    escaped = _MD_SPECIAL.sub(r"\\\1", clean)
    return escaped.replace("@", "@\u200b")


def md_code(text: str, limit: int = 40) -> str:
    """An identifier (run id) as a code span; backticks and control characters removed."""
    return "`" + plain_text(text, limit).replace("`", "'") + "`"


def mermaid_label(text: str, limit: int = MAX_LABEL) -> str:
    """A chart label: accents folded to ASCII, then only [A-Za-z0-9 _./#-]; the rest becomes
    `_`. Mermaid strings cannot escape a quote, and labels may be read as markdown, so a small
    alphabet is the only safe one."""
    folded = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    label = _LABEL_OK.sub("_", " ".join(folded.split())).strip() or "_"
    return _shorten(label, limit).replace("…", "~")


# -- numbers ----------------------------------------------------------------------------------


def number(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.6g}"


def signed(value: float | None) -> str:
    if value is None:
        return ""
    text = f"{value:+.4g}"
    return "0" if float(value) == 0.0 else text


def verdict_text(row: MetricRow) -> str:
    """The arrow says which way the value moved; the word says whether that is good."""
    delta = row.delta
    if row.verdict == BETTER:
        return ("▲" if (delta or 0) > 0 else "▼") + " better"
    if row.verdict == WORSE:
        return ("▲" if (delta or 0) > 0 else "▼") + " worse"
    if row.verdict == SAME:
        return "= same"
    if row.verdict == NEW:
        return "new"
    if row.verdict == DROPPED:
        return "dropped"
    return ""  # CHANGED (direction unknown) and ONLY (no baseline): no arrow


def summary_line(comparison: Comparison) -> str:
    counts = comparison.counts()
    order = (BETTER, WORSE, SAME, CHANGED, NEW, DROPPED)
    parts = [f"{counts[v]} {v if v != CHANGED else 'changed (direction unknown)'}"
             for v in order if counts.get(v)]
    return " · ".join(parts)


# -- markdown ---------------------------------------------------------------------------------


def _baseline_sentence(comparison: Comparison, code: bool = True) -> str:
    info = comparison.baseline
    if info.kind == "none":
        return "No baseline to compare with"
    name = BASELINE_NAMES.get(info.kind, info.kind)
    run = (md_code(info.run_id) if code else plain_text(info.run_id or "", 40)) if info.run_id \
        else ""
    detail = (md_text(info.detail, 200) if code else plain_text(info.detail, 200)) \
        if info.detail else ""
    extra = ", ".join(p for p in (f"run {run}" if run else "", detail) if p)
    return f"Compared with {name}" + (f" ({extra})" if extra else "")


def markdown_table(comparison: Comparison, max_chars: int = DEFAULT_BUDGET) -> tuple[str, int]:
    """The table, cut to `max_chars`; returns (text, rows left out)."""
    with_baseline = comparison.has_baseline
    head = ["| Task | Metric | This run | Baseline | Δ | |", "|---|---|---:|---:|---:|---|"] \
        if with_baseline else ["| Task | Metric | Value |", "|---|---|---:|"]
    lines = list(head)
    size = sum(len(h) + 1 for h in head)
    rows = _ordered(comparison)
    for index, row in enumerate(rows):
        name = md_text(row.name)
        if comparison.is_key(row):
            name = f"**{name}**"
        cells = [md_text(row.task), name, number(row.value)]
        if with_baseline:
            cells += [number(row.baseline), signed(row.delta), verdict_text(row)]
        line = "| " + " | ".join(cells) + " |"
        if size + len(line) + 1 > max_chars:
            return "\n".join(lines), len(rows) - index
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines), 0


def _ordered(comparison: Comparison) -> list[MetricRow]:
    """Key metric first; otherwise the comparison's order (the pipeline's)."""
    return sorted(comparison.rows, key=lambda r: 0 if comparison.is_key(r) else 1)


def markdown_comparison(comparison: Comparison, *, title: str = "Metrics",
                        max_chars: int = DEFAULT_BUDGET, chart: bool = True,
                        source: str | None = None) -> str:
    """The whole section: heading, baseline sentence, table, counts, chart, notes."""
    out = [f"### {md_text(title, 100)}", ""]
    if not comparison.rows:
        out.append("No metrics could be read for this run.")
        out += _notes_md(comparison.notes + comparison.baseline.notes)
        return "\n".join(out)
    sentence = _baseline_sentence(comparison)
    source = source or comparison.source
    if source:
        sentence += f" · read from {SOURCES.get(source, md_text(source))}"
    out += [sentence + ".", ""]
    chart_text = mermaid_chart(comparison) if chart else ""
    notes = comparison.notes + (comparison.baseline.notes if comparison.baseline.kind == "none"
                                else ())
    notes_text = "\n".join(_notes_md(notes))
    fixed = len("\n".join(out)) + len(notes_text) + 400  # counts line and the cut notice
    if fixed + len(chart_text) + 1000 > max_chars:
        chart_text = ""  # the table matters more than the chart
    table, left_out = markdown_table(comparison, max(max_chars - fixed - len(chart_text), 200))
    out.append(table)
    if left_out:
        out.append(f"\n*{left_out} more rows not shown (the comment has a size limit).*")
    counts = summary_line(comparison) if comparison.has_baseline else ""
    if counts:
        out += ["", counts]
    if chart_text:
        out += ["", chart_text]
    text = "\n".join(out) + ("\n" + notes_text if notes_text else "")
    # Only a tiny max_chars gets here; never cut a fence or a <details> in half.
    return text if len(text) <= max_chars else "\n".join(out[:4])[:max_chars]


def _notes_md(notes: Sequence[str]) -> list[str]:
    """At most 20 notes of at most 300 characters: bounded whatever the sources said."""
    notes = list(dict.fromkeys(notes))
    if not notes:
        return []
    lines = ["", "<details><summary>Why some sources were not used</summary>", ""]
    lines += [f"- {md_text(n, 300)}" for n in notes[:20]]
    return lines + ["", "</details>"]


# -- Mermaid ----------------------------------------------------------------------------------


def chart_rows(comparison: Comparison) -> list[MetricRow]:
    """Rows worth a chart: finite on both sides (or no baseline at all). Scores and rates share
    a 0..1 axis, so when there are any, only those are drawn; else everything, auto-scaled."""
    def finite(v: float | None) -> bool:
        return v is not None and math.isfinite(v)

    usable = [r for r in _ordered(comparison) if finite(r.value) and
              (finite(r.baseline) if comparison.has_baseline else True)]
    unit = [r for r in usable if all(0.0 <= v <= 1.0 for v in (r.value, r.baseline)
                                     if v is not None)]
    return (unit or usable)[:MAX_CHART_POINTS]


def _chart_number(value: float) -> str:
    """Fixed notation: Mermaid's xychart grammar has no exponent (1e-07 is a parse error)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def mermaid_chart(comparison: Comparison) -> str:
    """A ```mermaid xychart-beta block: bars for this run, a line for the baseline; "" when
    nothing can be charted."""
    rows = chart_rows(comparison)
    if not rows:
        return ""
    several_tasks = len({r.task for r in rows}) > 1
    labels: list[str] = []
    for row in rows:
        label = mermaid_label(f"{row.task}/{row.name}" if several_tasks else row.name)
        candidate, n = label, 2
        while candidate in labels:
            candidate = f"{label[:MAX_LABEL - 3]}~{n}"
            n += 1
        labels.append(candidate)
    values = [float(r.value) for r in rows if r.value is not None]
    bases = [float(r.baseline) for r in rows if r.baseline is not None]
    unit = all(0.0 <= v <= 1.0 for v in values + bases)
    title = ("bars: this run, line: " + ("production" if comparison.baseline.kind == "production"
                                         else "baseline")) if bases else "this run"
    lines = ["```mermaid", "xychart-beta", f'    title "{title}"',
             "    x-axis [" + ", ".join(f'"{label}"' for label in labels) + "]",
             '    y-axis "value"' + (" 0 --> 1" if unit else ""),
             "    bar [" + ", ".join(_chart_number(v) for v in values) + "]"]
    if bases and len(bases) == len(values):
        lines.append("    line [" + ", ".join(_chart_number(v) for v in bases) + "]")
    lines.append("```")
    return "\n".join(lines)


# -- terminal ---------------------------------------------------------------------------------


def terminal_comparison(comparison: Comparison, *, source: str | None = None) -> str:
    """What `kfc run --wait` and `kfc build-run --local` print after the run's report."""
    from kfops_action.report.terminal import table

    if not comparison.rows:
        lines = ["No metrics could be read for this run."]
        lines += [f"  {plain_text(n, 300)}" for n in
                  dict.fromkeys(comparison.notes + comparison.baseline.notes)]
        return "\n".join(lines)
    first = _baseline_sentence(comparison, code=False)
    source = source or comparison.source
    if source:
        first += f"; metrics read from {SOURCES.get(source, plain_text(source))}"
    rows = _ordered(comparison)
    if comparison.has_baseline:
        body = table(["task", "metric", "this run", "baseline", "delta", ""],
                     [(plain_text(r.task), plain_text(r.name) + (" *" if comparison.is_key(r)
                                                                 else ""),
                       number(r.value), number(r.baseline), signed(r.delta), verdict_text(r))
                      for r in rows])
    else:
        body = table(["task", "metric", "value"],
                     [(plain_text(r.task), plain_text(r.name), number(r.value)) for r in rows])
    lines = [first + ":", "", body]
    counts = summary_line(comparison) if comparison.has_baseline else ""
    if counts:
        lines += ["", counts.replace(" · ", ", ")]
    if comparison.baseline.kind == "none":
        lines += [f"  no baseline: {plain_text(n, 300)}"
                  for n in dict.fromkeys(comparison.baseline.notes)]
    lines += [f"  note: {plain_text(n, 300)}" for n in dict.fromkeys(comparison.notes)]
    return "\n".join(lines)
