"""Markdown for PR comments: what a reviewer needs, in the order they look for it.

One status comment per command shows, top to bottom: the state (with the pinned head SHA and who
asked), the run link, durations, the error's one-line cause (details folded), warnings, the
parameters table (value, and whether this command overrode it), tasks, then logs folded in
`<details>`. Rendering is pure: data in, text out; posting, scrubbing and splitting happen
elsewhere (status_comment.py), so tests read the Markdown directly.

Everything that came from a user or a tool (parameter values, error text, logs) is put in code
spans or fenced blocks sized to their content, so it can neither close our markup nor mention
people nor inject links. Hidden state (`<!-- kfops:state {...} -->`) is JSON with `-`, `<` and `>`
escaped inside strings, so it cannot end the HTML comment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Shown in a comment; the full log goes to the job summary (kept under its 1 MiB limit).
DEFAULT_LOG_CHARS = 20_000

STATE_ICONS = {
    "queued": "⏳", "building": "🔨", "uploading": "📦", "running": "🏃", "deploying": "🚀",
    "waiting": "⏳", "succeeded": "✅", "failed": "❌", "canceled": "⏹️", "timed out": "⌛",
    "refused": "⛔", "skipped": "⏭️",
}
FINAL_STATES = frozenset({"succeeded", "failed", "canceled", "timed out", "refused", "skipped"})



@dataclass(frozen=True)
class Param:
    name: str
    value: Any
    overridden: bool = False


@dataclass(frozen=True)
class ErrorInfo:
    """An error as a reviewer reads it: one line first, the rest folded."""

    cause: str
    details: str = ""
    fix: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        """KfopsError's `what`/`problems`/`fix`; anything else by its type and message."""
        what = getattr(exc, "what", None)
        if isinstance(what, str):
            problems = getattr(exc, "problems", []) or []
            return cls(what, "\n".join(str(p) for p in problems), getattr(exc, "fix", None))
        text = str(exc) or type(exc).__name__
        first, _, rest = text.partition("\n")
        return cls(f"{type(exc).__name__}: {first}", rest)


@dataclass(frozen=True)
class LogBlock:
    title: str
    text: str
    lang: str = "text"


@dataclass(frozen=True)
class Task:
    name: str
    state: str
    error: str | None = None


@dataclass(frozen=True)
class Link:
    """A link in a table cell or a detail line; only http(s) URLs become links."""

    text: str
    url: str


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]


@dataclass
class Report:
    """Everything one status comment can show; empty fields are left out."""

    command: str                               # e.g. "/build_run"
    state: str                                 # queued, building, running, succeeded, failed, ...
    actor: str | None = None
    sha: str | None = None                     # the PR head SHA pinned when the command arrived
    run_name: str | None = None
    run_url: str | None = None
    workflow_url: str | None = None            # the Actions run that did the work
    summary: str | None = None                 # one sentence under the title
    parameters: Sequence[Param] = ()
    durations: Sequence[tuple[str, float]] = ()
    errors: Sequence[ErrorInfo] = ()
    warnings: Sequence[str] = ()
    tasks: Sequence[Task] = ()
    logs: Sequence[LogBlock] = ()
    links: Sequence[tuple[str, str]] = ()      # (label, url)
    details: Sequence[tuple[str, object]] = ()  # (label, value): shown as code, or a Link
    table: Table | None = None                 # e.g. /status: one row per run
    sections: Sequence[str] = ()               # trusted markdown blocks kfops produced (e.g. metrics)
    state_data: Mapping[str, Any] | None = None  # carried to later commands, hidden

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


# -- small pieces ------------------------------------------------------------------------------


def _ticks_absent(text: str, minimum: int) -> str:
    """The shortest run of backticks (at least `minimum`) that `text` does not contain: no run in
    the text can then close it. `in` is a fast substring search, unlike a regex over megabytes."""
    count = minimum
    while "`" * count in text:
        count += 1
    return "`" * count


def code(value: object) -> str:
    """Inline code that the value cannot close, and that is safe inside a table cell."""
    text = _text(value).replace("\r", " ").replace("\n", " ")
    if not text:
        return "` `"
    ticks = _ticks_absent(text, 1)
    pad = " " if text.startswith("`") or text.endswith("`") or text.startswith(" ") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}".replace("|", "\\|")


def fence_for(text: str) -> str:
    """A backtick fence longer than any backtick run in `text`, so the text cannot close it."""
    return _ticks_absent(text, 3)


def fenced(text: str, lang: str = "text") -> str:
    fence = fence_for(text)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{fence}{lang}\n{body}{fence}"


def folded(summary: str, body: str, *, open_: bool = False) -> str:
    """A <details> block; the blank lines let GitHub render Markdown inside it."""
    tag = "<details open>" if open_ else "<details>"
    return f"{tag}<summary>{_html(summary)}</summary>\n\n{body.rstrip()}\n\n</details>"


def fold_log(title: str, text: str, *, lang: str = "text", max_chars: int | None = DEFAULT_LOG_CHARS,
             note: str = "the full log is in the job summary") -> str:
    """A log folded in <details>; past `max_chars`, only its last lines (errors are at the end)."""
    text, omitted = tail(text, max_chars)
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    summary = f"{title} (last {lines} of {lines + omitted} lines)" if omitted else f"{title} ({lines} lines)"
    head = f"*{omitted} earlier lines not shown: {note}.*\n\n" if omitted else ""
    return folded(summary, head + fenced(text, lang))


def tail(text: str, max_chars: int | None) -> tuple[str, int]:
    """The last whole lines of `text` within `max_chars`, and how many lines were dropped."""
    if max_chars is None or len(text) <= max_chars:
        return text, 0
    start = text.find("\n", len(text) - max_chars)
    start = len(text) - max_chars if start < 0 else start + 1
    return text[start:], text.count("\n", 0, start)


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"


def state_marker(data: Mapping[str, Any]) -> str:
    """Hidden state for later commands; trusted only in comments the action wrote itself."""
    encoded = json.dumps(dict(data), sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=str)
    # Outside strings JSON has no "--", "<" or ">": these replacements only touch strings.
    encoded = encoded.replace("--", "-\\u002d").replace("<", "\\u003c").replace(">", "\\u003e")
    return f"<!-- kfops:state {encoded} -->"


_STATE = re.compile(r"<!-- kfops:state (\{.*?\}) -->")


def read_state_marker(body: str) -> dict[str, Any] | None:
    match = _STATE.search(body or "")
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return "" if value is None else str(value)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _one_line(text: str) -> str:
    first = (text or "").strip().splitlines()
    return first[0] if first else ""


# -- sections ----------------------------------------------------------------------------------


def parameters_table(parameters: Sequence[Any]) -> str:
    """name | value | overridden; accepts Param or anything with .name/.value/.overridden."""
    rows = ["| parameter | value | overridden |", "|---|---|---|"]
    for p in parameters:
        rows.append(f"| {code(p.name)} | {code(p.value)} | {'yes' if getattr(p, 'overridden', False) else ''} |")
    return "\n".join(rows)


def cell(value: object) -> str:
    """A table cell or detail value: a Link as a link, anything else as code."""
    if isinstance(value, Link):
        text = _html(value.text).replace("[", "\\[").replace("]", "\\]").replace("|", "\\|")
        if value.url.startswith(("https://", "http://")) and not any(c in value.url for c in " ()<>|"):
            return f"[{text}]({value.url})"
        return text
    return code(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table whose cells cannot become markup (see `cell`)."""
    lines = ["| " + " | ".join(_html(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def tasks_table(tasks: Sequence[Any]) -> str:
    rows = ["| task | state | error |", "|---|---|---|"]
    for t in tasks:
        error = code(_one_line(t.error)) if getattr(t, "error", None) else ""
        rows.append(f"| {code(t.name)} | {_text(t.state).lower()} | {error} |")
    return "\n".join(rows)


def error_section(error: ErrorInfo) -> str:
    lines = [f"**Error:** {code(_one_line(error.cause)) if _risky(error.cause) else _one_line(error.cause)}"]
    rest = "\n".join(filter(None, ["\n".join(error.cause.strip().splitlines()[1:]), error.details]))
    if error.fix:
        lines.append(f"**How to fix:** {_one_line(error.fix)}")
    if rest.strip():
        lines += ["", folded("Details", fenced(rest.strip()))]
    return "\n".join(lines)


def _risky(text: str) -> bool:
    """Text that could render as markup or ping someone is shown as code."""
    return any(ch in text for ch in "@<>[]`*_|#\\") or "http" in text


def title(report: Report) -> str:
    icon = STATE_ICONS.get(report.state, "•")
    line = f"### {icon} `{report.command}` {report.state}"
    facts = []
    if report.sha:
        facts.append(f"on {report.sha[:12]}")
    if report.actor:
        facts.append(f"for @{report.actor}")
    return line + (" " + " ".join(facts) if facts else "")


def render(report: Report, *, log_chars: int | None = DEFAULT_LOG_CHARS,
           log_note: str = "the full log is in the job summary") -> str:
    """The comment body (without the status marker, which status_comment.py adds)."""
    out = [title(report)]
    if report.summary:
        out += ["", report.summary]
    facts = []
    if report.run_url:
        name = report.run_name or "the run"
        facts.append(f"**Run:** [{_html(name)}]({report.run_url})")
    if report.workflow_url:
        facts.append(f"**Workflow:** [logs]({report.workflow_url})")
    for label, url in report.links:
        facts.append(f"**{_html(label)}:** {url}")
    if report.durations:
        facts.append("**Durations:** " + ", ".join(f"{_html(step)} {duration(s)}" for step, s in report.durations))
    for label, value in report.details:
        facts.append(f"**{_html(label)}:** {cell(value)}")
    if facts:
        out += ["", "<br>\n".join(facts)]
    for error in report.errors:
        out += ["", error_section(error)]
    if report.warnings:
        out += ["", "**Warnings:**"] + [f"- {code(_one_line(w))}" if _risky(w) else f"- {_one_line(w)}"
                                        for w in report.warnings]
    if report.table is not None:
        out += ["", table(report.table.headers, report.table.rows)]
    if report.parameters:
        out += ["", parameters_table(report.parameters)]
    if report.tasks:
        out += ["", tasks_table(report.tasks)]
    for section in report.sections:  # already-safe markdown (e.g. metrics.render), shown as is
        if section.strip():
            out += ["", section.strip("\n")]
    for log in report.logs:
        out += ["", fold_log(log.title, log.text, lang=log.lang, max_chars=log_chars, note=log_note)]
    if report.state_data:
        out += ["", state_marker(report.state_data)]
    return "\n".join(out) + "\n"


def render_summary(report: Report) -> str:
    """The job summary: the same report with whole logs (append_step_summary caps it at 1 MiB)."""
    return render(report, log_chars=None)
