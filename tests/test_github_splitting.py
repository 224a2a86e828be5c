"""Splitting long bodies at GitHub's limit: every part fits, renders on its own (fences and
<details> balanced), and together the parts hold exactly the input."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kfops_action.github.render import fold_log
from kfops_action.github.splitting import GITHUB_LIMIT, split_body, split_parts

_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_CLOSE = re.compile(r" {0,3}(`+|~+)[ \t]*")
_TAG_OPEN = re.compile(r"<details\b[^>\n]*>", re.IGNORECASE)
_TAG = re.compile(r"<(/?)details\b[^>\n]*>", re.IGNORECASE)


def open_blocks(text: str) -> tuple[str | None, int]:
    """An independent, line-by-line reading: the fence left open (if any) and the number of
    <details> left open at the end of `text`."""
    fence: tuple[str, int] | None = None
    depth = 0
    for line in text.split("\n"):
        if fence is not None:
            closing = _CLOSE.fullmatch(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= fence[1]:
                fence = None
            continue
        opening = _OPEN.fullmatch(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence = (opening.group(1)[0], len(opening.group(1)))
            continue
        for tag in _TAG.finditer(line):
            if tag.group(1):
                depth = max(0, depth - 1)
            else:
                depth += 1
    return (None if fence is None else fence[0] * fence[1]), depth


def assert_well_split(text: str, limit: int) -> list[str]:
    parts = split_parts(text, limit)
    assert "".join(p.content for p in parts) == text
    for part in parts:
        assert len(part.text) <= limit, (len(part.text), limit)
        assert open_blocks(part.text) == (None, 0), part.text
        assert part.content or text == "", "every part carries some of the input"
    return [p.text for p in parts]


def test_short_body_is_returned_as_is() -> None:
    body = "### ✅ done\n\n```text\nok\n```\n"
    assert split_body(body) == [body]


def test_exactly_at_the_limit_is_one_part() -> None:
    body = "x" * (GITHUB_LIMIT - 1) + "\n"
    assert split_body(body) == [body]
    assert len(split_body(body + "y")) == 2


def test_log_in_details_is_closed_and_reopened() -> None:
    log = "".join(f"step {i}: " + "ok " * 20 + "\n" for i in range(200))
    body = "### ❌ /build_run failed\n\n" + fold_log("Build log", log, max_chars=None) + "\n\nafter\n"
    parts = assert_well_split(body, 2000)
    assert len(parts) > 5
    for later in parts[1:-1]:
        assert later.startswith("<details><summary>Build log (200 lines) (continued)</summary>\n\n```text\n")
        assert later.endswith("\n```\n</details>\n")
    assert parts[-1].rstrip().endswith("after")


def test_tilde_and_long_fences_reopen_as_written() -> None:
    body = "~~~~ python\n" + "print('~~~ not a closer')\n" * 100 + "~~~~\n" + "````md\n" + "```\ninner\n```\n" * 60 + "````\n"
    parts = assert_well_split(body, 600)
    assert any(p.startswith("~~~~ python\n") for p in parts[1:])
    assert any(p.startswith("````md\n") for p in parts[1:])


def test_nested_details() -> None:
    body = ("<details open><summary>Outer</summary>\n\n<details><summary>Inner</summary>\n\n"
            + "line\n" * 400 + "</details>\n</details>\n")
    parts = assert_well_split(body, 300)
    assert parts[1].startswith("<details open><summary>Outer (continued)</summary>\n\n"
                               "<details><summary>Inner (continued)</summary>\n\n")


def test_one_huge_line_inside_a_fence_is_cut_inside() -> None:
    body = "```\n" + "a" * 5000 + "```b" * 300 + "\n```\n"
    assert_well_split(body, 1000)


def test_unclosed_fence_in_the_input_is_closed_in_every_part() -> None:
    body = "text\n```\n" + "code\n" * 300
    parts = assert_well_split(body, 500)
    assert parts[-1].endswith("code\n```\n")


def test_limit_too_small_is_refused() -> None:
    with pytest.raises(ValueError):
        split_body("abc", 8)


def test_five_megabytes_split_quickly() -> None:
    log = "".join(f"{i:08d} epoch=3 loss=0.1234 accuracy=0.98 step ok\n" for i in range(100_000))
    body = fold_log("Run log", log, max_chars=None)
    start = time.perf_counter()
    parts = split_body(body)
    assert time.perf_counter() - start < 0.5
    assert "".join(parts).count("\n") >= log.count("\n")
    assert all(len(p) <= GITHUB_LIMIT for p in parts)


# -- properties --------------------------------------------------------------------------------

_WORDS = st.sampled_from(["ok", "epoch", "`code`", "~", "``", "a|b", "<b>", "x" * 30, "é", "🙂", "  "])
_STRUCTURE = st.sampled_from([
    "```", "```python", "~~~", "~~~~", "````", "   ```", "``` ` not a fence", "    ```",
    "<details>", "<details open>", "<details><summary>Logs</summary>", "<summary>More</summary>",
    "</details>", "text <details> inline", "inline </details> close", "```text", "~~~ yaml",
])


@st.composite
def _markdown(draw: st.DrawFn) -> str:
    lines = []
    structures = 0
    for _ in range(draw(st.integers(0, 120))):
        kind = draw(st.integers(0, 9))
        if kind <= 2 and structures < 12:  # bounded nesting: reopenings must leave room
            structures += 1
            lines.append(draw(_STRUCTURE))
        elif kind <= 7:
            lines.append(" ".join(draw(st.lists(_WORDS, max_size=12))))
        else:  # a line longer than a part, starting with a letter
            lines.append("L" + "".join(draw(st.lists(_WORDS, min_size=1, max_size=8))) * draw(st.integers(1, 60)))
    text = "\n".join(lines)
    return text + ("\n" if draw(st.booleans()) else "")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_markdown(), limit=st.integers(400, 1500))
def test_property_parts_fit_balance_and_preserve_content(text: str, limit: int) -> None:
    assert_well_split(text, limit)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab `~<>/\n"), max_size=3000), limit=st.integers(200, 1000))
def test_property_holds_for_arbitrary_short_line_text(text: str, limit: int) -> None:
    # Free text whose lines are shorter than a part: the guarantees hold whatever the markup.
    if any(len(line) > limit // 4 for line in text.split("\n")):
        text = "\n".join(line[: limit // 4] for line in text.split("\n"))
    assert_well_split(text, limit)
