"""The input hash of an image: what decides that an image need not be rebuilt.

An image is a function of its build context (minus what .dockerignore drops), its Dockerfile and
its build args (and, for the docker builder, the target platform). When all of these are the same
as for an image already in the registry, building again only burns runner minutes and produces a
new digest for the same thing, which would also defeat KFP's caching downstream. Both builders
tag (or record) each image with `inputs-<hash>` and look that up before building.

Two sources of the same facts:
- `worktree_inputs`: the files on disk, which is what `docker buildx build` sends (untracked and
  modified files included);
- `git_inputs`: the tree of a commit, which is what Kaniko clones; no checkout needed.
Each hash names its source, so the two never collide in a registry.

What this cannot see: a base image that moved under the same tag (`FROM python:3.11`), or a
`RUN pip install` that resolves differently today. Pin base images by digest when that matters;
set `images.reuse_unchanged: false` to always rebuild.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from .dockerignore import DockerIgnore
from .errors import ImageBuildError

HASH_LENGTH = 24  # hex characters: 96 bits, short enough for a readable tag
SCHEME = "kfops-image-inputs-v1"


def _combine(source: str, entries: Iterable[tuple[str, str]], dockerfile_id: str, dockerfile_rel: str,
             build_args: Mapping[str, str], extra: Mapping[str, str]) -> str:
    digest = hashlib.sha256()

    def add(*fields: str) -> None:
        for f in fields:
            digest.update(f.encode("utf-8", "surrogateescape"))
            digest.update(b"\0")
        digest.update(b"\n")

    add(SCHEME, source)
    add("dockerfile", dockerfile_rel, dockerfile_id)
    for key in sorted(build_args):
        add("arg", key, build_args[key])
    for key in sorted(extra):
        add("extra", key, extra[key])
    for path, content_id in sorted(entries):
        add("file", path, content_id)
    return digest.hexdigest()[:HASH_LENGTH]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _worktree_entries(context: Path, ignore: DockerIgnore) -> Iterable[tuple[str, str]]:
    """(relative path, content id) of every file Docker would send; symlinks by their target."""
    prune = not ignore.has_exceptions
    for dirpath, dirnames, filenames in os.walk(context):
        rel_dir = Path(dirpath).relative_to(context).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        if prune:
            dirnames[:] = [d for d in dirnames if not ignore.excluded(rel_dir + d)]
        dirnames.sort()
        names = list(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in sorted(names):
            rel = rel_dir + name
            if ignore.excluded(rel):
                continue
            full = Path(dirpath) / name
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                yield rel, "link:" + os.readlink(full)
            elif stat.S_ISREG(info.st_mode):
                executable = "x" if info.st_mode & 0o111 else "-"
                yield rel, f"{executable}:{_file_sha256(full)}"


def worktree_inputs(context: Path, dockerfile: Path, build_args: Mapping[str, str],
                    extra: Mapping[str, str] | None = None) -> str:
    """Input hash of a build from the working tree (the docker builder)."""
    if not context.is_dir():
        raise ImageBuildError(f"build context {context} is not a directory",
                              fix="check images.build[].context in kfops.yaml", exit_code=2)
    if not dockerfile.is_file():
        raise ImageBuildError(f"Dockerfile {dockerfile} does not exist",
                              fix="check images.build[].dockerfile (relative to the context)", exit_code=2)
    entries = list(_worktree_entries(context, DockerIgnore.of_context(context)))
    return _combine("worktree", entries, _file_sha256(dockerfile),
                    os.path.relpath(dockerfile, context).replace(os.sep, "/"), build_args, extra or {})


def _git(repo_root: Path, *args: str) -> bytes:
    try:
        out = subprocess.run(["git", "-C", str(repo_root), *args], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImageBuildError(f"git {' '.join(args)} failed: {exc}") from None
    if out.returncode != 0:
        raise ImageBuildError(f"git {' '.join(args)} failed: {out.stderr.decode(errors='replace').strip()}")
    return out.stdout


def _ls_tree(repo_root: Path, sha: str, path: str | None) -> list[tuple[str, str, str]]:
    """(mode, object id, path from the repository root) of every file under `path` at `sha`."""
    out = _git(repo_root, "ls-tree", "-r", "-z", "--full-tree", sha, *(["--", path] if path else []))
    entries = []
    for record in out.decode("utf-8", "surrogateescape").split("\0"):
        if not record:
            continue
        meta, _, name = record.partition("\t")
        mode, _kind, obj = meta.split(" ")
        entries.append((mode, obj, name))
    return entries


def git_inputs(repo_root: Path, sha: str, context_rel: str, dockerfile_rel: str,
               build_args: Mapping[str, str], extra: Mapping[str, str] | None = None) -> str:
    """Input hash of a build from a commit (the kaniko builder): git object ids stand for contents.

    `context_rel` and `dockerfile_rel` are relative to the repository root ("" or "." for the root).
    """
    context_rel = "" if context_rel in ("", ".") else context_rel.strip("/")
    files = _ls_tree(repo_root, sha, context_rel or None)
    prefix = context_rel + "/" if context_rel else ""
    ignore_text = ""
    if any(name == prefix + ".dockerignore" for _, _, name in files):
        ignore_text = _git(repo_root, "show", f"{sha}:{prefix}.dockerignore").decode("utf-8", "replace")
    ignore = DockerIgnore(ignore_text)
    entries = []
    for mode, obj, name in files:
        rel = name[len(prefix):]
        if not ignore.excluded(rel):
            entries.append((rel, f"{mode}:{obj}"))
    dockerfile = [obj for _, obj, name in _ls_tree(repo_root, sha, dockerfile_rel) if name == dockerfile_rel]
    if not dockerfile:
        raise ImageBuildError(f"Dockerfile {dockerfile_rel} is not in commit {sha[:12]}",
                              fix="commit and push the Dockerfile: the kaniko builder builds from git", exit_code=2)
    rel_dockerfile = PurePosixPath(os.path.relpath(dockerfile_rel, context_rel or ".")).as_posix()
    return _combine("git", entries, dockerfile[0], rel_dockerfile, build_args, extra or {})
