"""The narrow interface handlers report progress through (terminal now, PR comment later)."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def progress(self, message: str) -> None: ...

    def warning(self, message: str) -> None: ...
