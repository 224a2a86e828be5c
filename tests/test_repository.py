"""The repository keeps the promises its README makes."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running the tests", 1)[1]
    command = _shell_blocks(section)[0].strip()
    assert "pytest" in command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines


def test_readme_quickstart_uses_the_example_config() -> None:
    readme = (ROOT / "README.md").read_text()
    quickstart = _shell_blocks(readme.split("## Quickstart", 1)[1])[0]
    match = re.search(r"kfc build-run --local -c (\S+)", quickstart)
    assert match and (ROOT / match.group(1)).is_file()
