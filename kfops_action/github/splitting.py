"""Split a Markdown body over GitHub's 65,536-character comment limit without breaking its markup.

GitHub answers 422 "Body is too long" past 65,536 characters. Cutting blindly leaves a code fence
or a `<details>` block open in one comment (the rest of it renders as code) and a stray closer in
the next. Here each part is closed where it is cut and reopened at the start of the next part:

    part 1: ...content...\\n```\\n</details>\\n
    part 2: <details><summary>Log (continued)</summary>\\n\\n```text\\n...content...

so every part renders on its own. `split_parts` returns each part as (prefix, content, suffix):
the contents concatenated are exactly the input, and prefix/suffix are only the reopenings and
closures added (which is what the property tests check).

Cuts fall at line ends; only a line longer than a whole part is cut inside, at a point where
neither piece turns into markup it was not. Structure is found with one regex pass, and each part
costs O(1) string searches, so splitting is linear in the input (5 MB in a few milliseconds).

What counts as structure (a subset of CommonMark/GFM, the one our reports use): fenced code
blocks (``` or ~~~, up to three spaces of indentation, a backtick fence's info string has no
backtick; closed by the same character, at least as long, nothing but spaces after), and, outside
fences, `<details ...>` / `</details>` tags anywhere in a line. Fences nested in list items are
not tracked.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

GITHUB_LIMIT = 65_536

# Two scans, each starting with a literal so that the regex engine skips ahead fast (a single
# `^`-anchored alternation is ~20 times slower on a 5 MB log).
_FENCE_LINE = re.compile(r"\n(?P<line>(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*))")
_FIRST_FENCE_LINE = re.compile(r"(?P<line>(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*))")
_TAG = re.compile(r"<(?P<close>/)?details\b[^>\n]*>", re.IGNORECASE)
_SUMMARY = re.compile(r"\s*<summary>(?P<text>[^\n]*?)</summary>", re.IGNORECASE)
_FENCE_START = re.compile(r" {0,3}(?:`{3}|~{3})")


@dataclass(frozen=True)
class Fence:
    char: str       # "`" or "~"
    length: int
    opener: str     # the whole opening line, without its newline, reused to reopen

    def closes(self, line: str) -> bool:
        stripped = line.lstrip(" ")
        if len(line) - len(stripped) > 3:
            return False
        run = len(stripped) - len(stripped.lstrip(self.char))
        return run >= self.length and not stripped[run:].strip(" \t")


@dataclass(frozen=True)
class Details:
    tag: str                # the opening tag as written, e.g. '<details open>'
    summary: str | None     # its <summary> text, when it follows the tag


@dataclass(frozen=True)
class State:
    """What is open at a point of the text: <details> blocks (outermost first) and a fence."""

    details: tuple[Details, ...] = ()
    fence: Fence | None = None

    def reopen(self, *, summaries: bool = True) -> str:
        out = []
        for block in self.details:
            if summaries and block.summary is not None:
                out.append(f"{block.tag}<summary>{block.summary} (continued)</summary>\n\n")
            else:
                out.append(f"{block.tag}\n\n")
        if self.fence is not None:
            out.append(self.fence.opener + "\n")
        return "".join(out)

    def close(self, content: str) -> str:
        if self.fence is None and not self.details:
            return ""
        out = ["" if not content or content.endswith("\n") else "\n"]
        if self.fence is not None:
            out.append(self.fence.char * self.fence.length + "\n")
        out.append("</details>\n" * len(self.details))
        return "".join(out)


EMPTY = State()


@dataclass(frozen=True)
class Part:
    prefix: str    # reopenings added
    content: str   # a slice of the input
    suffix: str    # closures added

    @property
    def text(self) -> str:
        return self.prefix + self.content + self.suffix


def _classify(line: str, fence: Fence | None) -> str:
    """'open', 'close' or '' for one line (no newline), given the fence it is inside."""
    if fence is not None:
        return "close" if fence.closes(line) else ""
    match = _FIRST_FENCE_LINE.match(line)
    if match and match.end() == len(line):
        char = match.group("fence")[0]
        return "" if char == "`" and "`" in match.group("info") else "open"
    return ""


def _events(text: str) -> list[tuple[int, int, re.Match[str], bool]]:
    """(start, end, match, is_fence) for every candidate fence line and details tag, in order."""
    first = _FIRST_FENCE_LINE.match(text)
    fences = [(m.start("line"), m.end("line"), m, True)
              for m in ([first] if first else []) + list(_FENCE_LINE.finditer(text))]
    tags = [(m.start(), m.end(), m, False) for m in _TAG.finditer(text)]
    if not tags:
        return fences
    return sorted(fences + tags, key=lambda event: event[0])


class _Structure:
    """The text's structure, scanned once: the state in force after each change, by position."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.positions: list[int] = [0]     # state[i] holds from positions[i] on
        self.states: list[State] = [EMPTY]
        self.span_starts: list[int] = []    # spans a cut must not fall into (tags, fence lines)
        self.span_ends: list[int] = []
        state = EMPTY
        for start, end, match, is_fence in _events(text):
            if is_fence:
                fence_run = match.group("fence")
                line = match.group("line")
                if state.fence is not None:
                    if not state.fence.closes(line):
                        continue
                    state = State(state.details, None)
                else:
                    if fence_run[0] == "`" and "`" in match.group("info"):
                        continue
                    state = State(state.details, Fence(fence_run[0], len(fence_run), line))
            else:
                if state.fence is not None:
                    continue
                if match.group("close"):
                    if not state.details:
                        continue
                    state = State(state.details[:-1], None)
                else:
                    summary = _SUMMARY.match(text, end)
                    state = State(state.details + (Details(match.group(0),
                                                           summary.group("text") if summary else None),),
                                  None)
            self.span_starts.append(start)
            self.span_ends.append(end)
            self.positions.append(end)
            self.states.append(state)

    def state_at(self, pos: int) -> State:
        """The state for a cut at `pos` (everything before `pos` has been read)."""
        return self.states[bisect.bisect_right(self.positions, pos) - 1]

    def inside_span(self, pos: int) -> bool:
        i = bisect.bisect_right(self.span_starts, pos) - 1
        return i >= 0 and self.span_starts[i] < pos < self.span_ends[i]


def split_parts(text: str, limit: int = GITHUB_LIMIT) -> list[Part]:
    """Parts of at most `limit` characters each (prefix + content + suffix), in order.

    Raises ValueError when `limit` leaves no room for content after the reopenings (a limit of a
    few hundred characters is always enough for our reports).
    """
    if limit < 16:
        raise ValueError(f"limit {limit} is too small to split Markdown")
    if not text:
        return [Part("", "", "")]
    structure = _Structure(text)
    parts: list[Part] = []
    pos, size = 0, len(text)
    while True:
        state = structure.state_at(pos)
        prefix = state.reopen()
        if len(prefix) + len(state.close("x")) + 1 > limit:
            prefix = state.reopen(summaries=False)
        end = _cut(structure, pos, limit - len(prefix))
        content = text[pos:end]
        suffix = structure.state_at(end).close(content)
        parts.append(Part(prefix, content, suffix))
        if end >= size:
            return parts
        pos = end


def _cut(structure: _Structure, pos: int, budget: int) -> int:
    """The end of the part that starts at `pos`: the furthest line end (or, for an overlong line,
    a point inside it) such that the content plus the closers needed there fit in `budget`.
    Candidates are tried from the furthest back; each step costs one `rfind`."""
    text = structure.text
    size = len(text)
    hi = min(size, pos + budget)
    while hi > pos:
        if hi == size:
            end = size
        else:
            newline = text.rfind("\n", pos, hi)
            end = newline + 1 if newline >= pos else _hard_cut(structure, pos, hi)
        ends_line = text[end - 1] == "\n"
        suffix = len(structure.state_at(end).close("\n" if ends_line else "x"))
        if (end - pos) + suffix <= budget:
            return end
        hi = end - 1
    raise ValueError("limit leaves no room for content inside the open blocks")


def _hard_cut(structure: _Structure, pos: int, hi: int, tries: int = 512) -> int:
    """A cut inside one overlong line: not inside a tag or fence line, not where the rest would
    start the next part with a fence, and (for a line that starts like a fence) not where the
    head alone would read as a fence line when the whole line does not, or the reverse."""
    text = structure.text
    line_start = text.rfind("\n", 0, pos) + 1
    check_head = line_start == pos and _FENCE_START.match(text, pos) is not None
    if check_head:
        line_end = text.find("\n", hi)
        line = text[pos: line_end if line_end >= 0 else len(text)]
        fence = structure.state_at(pos).fence
        kind = _classify(line, fence)
    for cut in range(hi, max(pos, hi - tries), -1):
        if structure.inside_span(cut) or _FENCE_START.match(text, cut):
            continue
        if check_head and _classify(text[pos:cut], fence) != kind:
            continue
        return cut
    return hi  # nothing better nearby: keep the size guarantee


def split_body(text: str, limit: int = GITHUB_LIMIT) -> list[str]:
    """The bodies to post, each at most `limit` characters; [text] when it already fits and has
    nothing left open."""
    return [part.text for part in split_parts(text, limit)]
