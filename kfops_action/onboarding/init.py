"""`kfc init`: set kfops up in a repository, or convert an original Kfops layout (`--from-kfops`).

All or nothing by default: when any file it would write already exists, nothing is written and
the conflicts are listed (`--force` overwrites them, `--skip-existing` keeps them and writes the
rest). A half-written scaffold, with a new kfops.yaml next to an old workflow that does not match
it, is worse than none. The generated kfops.yaml is validated against the schema before anything
is written.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from ..errors import ConfigError, KfopsError
from . import nextsteps, scaffold
from .answers import Answers, Ask, gather
from .detect import is_git_repository

EXIT_OK, EXIT_EXISTS = 0, 2
GITIGNORE_LINE = ".kfops/"


def main(args: argparse.Namespace, *, stdin: IO[str], out: IO[str], env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    root = Path(args.dir).resolve()
    if not root.is_dir():
        raise ConfigError(f"{args.dir} is not a folder", fix="pass --dir the repository's folder")
    interactive = not args.yes and stdin.isatty()
    ask = make_asker(stdin, out, interactive)
    notes: list[str] = []
    if args.from_kfops:
        from .from_kfops import convert

        conversion = convert(root, args, env, ask, interactive=interactive)
        answers, files, notes = conversion.answers, conversion.files, conversion.notes
    else:
        answers = gather(args, root, env, ask, interactive=interactive)
        files = scaffold.files(answers)
    check_config(files[0].text, root)

    existing = [f for f in files if (root / f.path).exists()]
    if existing and not (args.force or args.skip_existing):
        print("kfc init wrote nothing: these files already exist:", file=out)
        for f in existing:
            print(f"  {f.path}", file=out)
        print("Use --force to overwrite them, or --skip-existing to keep them and write the others. "
              "`kfc doctor` checks an existing setup.", file=out)
        return EXIT_EXISTS
    keep = {f.path for f in existing} if args.skip_existing and not args.force else set()
    verb = "would write" if args.dry_run else "wrote"
    print(f"kfc init {'(dry run) ' if args.dry_run else ''}in {root}:", file=out)
    for f in files:
        if f.path in keep:
            print(f"  kept     {f.path} (exists)", file=out)
            continue
        if not args.dry_run:
            target = root / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.text, encoding="utf-8")
        print(f"  {verb:8} {f.path}: {f.why}", file=out)
    if gitignore(root, dry_run=args.dry_run):
        print(f"  {'would add' if args.dry_run else 'added':8} {GITIGNORE_LINE} to .gitignore "
              "(compiled pipelines and local run outputs)", file=out)
    if notes:
        print("\nNot converted (do these by hand):", file=out)
        print(list_items(notes), file=out)
    if not is_git_repository(root):
        print("\nNote: this folder is not a git repository yet (git init): kfops names pipeline versions "
              "after the commit.", file=out)
    print(nextsteps.render(answers, from_kfops=args.from_kfops), file=out)
    return EXIT_OK


def list_items(items: list[str]) -> str:
    """A Markdown list, one item per entry: a line break inside an entry (a quoted error's own
    "How to fix:" line) continues the item, indented, instead of ending the list."""
    return "\n".join("  - " + "\n    ".join(line.strip() for line in item.strip().splitlines() if line.strip())
                     for item in items)


def make_asker(stdin: IO[str], out: IO[str], interactive: bool) -> Ask:
    """A question on `out`, the answer from `stdin`; without a terminal, always the default."""

    def ask(question: str, default: str, choices: list[str] | None) -> str:
        if not interactive:
            return default
        if choices:
            for number, choice in enumerate(choices, 1):
                print(f"  {number}. {choice}", file=out)
        while True:
            print(f"{question} [{default}]: ", end="", file=out, flush=True)
            line = stdin.readline()
            if not line:  # end of input: take the default
                print(file=out)
                return default
            answer = line.strip() or default
            if choices and answer.isdigit() and 1 <= int(answer) <= len(choices):
                return choices[int(answer) - 1]
            if not choices or answer in choices:
                return answer
            print(f"  please answer one of: {', '.join(choices)}", file=out)

    return ask


def check_config(text: str, root: Path) -> None:
    """Validate the kfops.yaml about to be written; a failure here is a bug in kfc init."""
    import yaml

    from ..config.validation import validate

    problems = validate(yaml.safe_load(text), locate_value=lambda p: None, locate_key=lambda p: None)
    if problems:
        raise KfopsError("kfc init generated an invalid kfops.yaml (a bug; nothing was written)", problems,
                         fix="please report it; meanwhile start from examples/quickstart/kfops.yaml", exit_code=1)


def gitignore(root: Path, *, dry_run: bool) -> bool:
    """Add `.kfops/` to .gitignore when it is not ignored yet; True when it was (or would be) added."""
    path = root / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if any(line.strip() in (".kfops", ".kfops/", "/.kfops", "/.kfops/") for line in text.splitlines()):
        return False
    if not dry_run:
        path.write_text(text + ("" if not text or text.endswith("\n") else "\n") + GITIGNORE_LINE + "\n",
                        encoding="utf-8")
    return True


__all__ = ["Answers", "main", "make_asker"]
