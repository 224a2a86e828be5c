""".dockerignore matching, close enough to Docker's to hash what Docker would send.

Why our own: the input hash that lets an unchanged image skip its rebuild must cover exactly the
files that reach the build. Counting an ignored file (a dataset, a local .venv) would rebuild for
nothing; skipping a file Docker sends would reuse a stale image, which is worse.

Covered, as Docker's patternmatcher does it: comments (#), blank lines, `!` exceptions where the
last matching line wins, `*` and `?` within one path segment, `**` across segments, `[...]`
classes, `\\` escapes, a leading `/` or `./` ignored, and a pattern that matches a directory
excluding everything under it. Not covered: Dockerfile-specific ignore files
(`<Dockerfile>.dockerignore`).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    exclude: bool  # False for a `!` exception


def _translate(pattern: str) -> str:
    """A dockerignore pattern as a regular expression over slash-separated relative paths."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 2
                if i < n and pattern[i] == "/":
                    out.append("(?:.*/)?")  # `**/` : zero or more whole directories
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2 if i + 1 < n and pattern[i + 1] in "!^" else i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _clean(pattern: str) -> str:
    pattern = posixpath.normpath(pattern.strip())
    while pattern.startswith("/"):
        pattern = pattern[1:]
    return "" if pattern == "." else pattern


class DockerIgnore:
    """The rules of one .dockerignore; `excluded(path)` for a path relative to the context."""

    def __init__(self, text: str = "") -> None:
        self.rules: list[_Rule] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclude = not line.startswith("!")
            pattern = _clean(line if exclude else line[1:])
            if pattern:
                self.rules.append(_Rule(re.compile(_translate(pattern) + r"\Z"), exclude))

    @classmethod
    def of_context(cls, context: Path) -> DockerIgnore:
        path = context / ".dockerignore"
        return cls(path.read_text(encoding="utf-8", errors="replace") if path.is_file() else "")

    @property
    def has_exceptions(self) -> bool:
        """With `!` lines, an excluded directory may hold re-included files: walk into it."""
        return any(not r.exclude for r in self.rules)

    def excluded(self, path: str) -> bool:
        """Whether Docker leaves `path` (relative, slash-separated) out of the build context.

        Each rule is tried against the path and each of its parent directories, as Docker's
        `MatchesOrParentMatches` does; the last rule that matches decides.
        """
        parts = path.strip("/").split("/")
        prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
        verdict = False
        for rule in self.rules:
            if any(rule.regex.match(p) for p in prefixes):
                verdict = rule.exclude
        return verdict
