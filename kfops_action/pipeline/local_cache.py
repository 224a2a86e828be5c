"""Reuse unchanged work between `kfc build-run --local` runs: the compiled pipeline and each step.

Why: a local run pays ~1 s to import kfp and compile, then a fresh interpreter per task. When
nothing changed, KFP itself (remotely) would reuse every step's outputs; locally we do the same,
and go further: an unchanged run is answered from this cache without importing kfp at all.

Two kinds of entries, under `<kfops.yaml folder>/.kfops/cache/`:

* `compiled/<key>.yaml`: the compiler's output, keyed on the content of every file in the
  pipeline's folder (it may import any of them), the kfp/kfops/Python versions and the effective
  `pipeline` section. A wrong hit would run stale code, so the key errs towards missing.
* `steps/<key>/`: one task's outputs (its task folder, copied, and `entry.json`), keyed like KFP's
  remote cache: the task's executor spec (image, command and args, which carry the component's
  code), its component interface, the kfp and Python versions, and the resolved inputs: parameter
  values, and input artifacts by the sha256 of their content and their metadata.

Entries are written to a temporary name and renamed into place, so two runs at once never see a
half-written entry; a damaged entry is reported, ignored and replaced, never trusted.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .local_record import CACHED_MARKER

if TYPE_CHECKING:
    from ..config.loader import PipelineSettings
    from .package import PipelinePackage

CACHE_FORMAT = 1
ENTRY_FILE = "entry.json"
EXECUTOR_OUTPUT = "executor_output.json"
# Folders never imported by a pipeline: VCS data, our own outputs, interpreter caches, virtualenvs.
SKIPPED_DIRS = {".git", ".hg", ".svn", ".kfops", "__pycache__", ".venv", "venv", ".tox", ".nox",
                "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache", "local_outputs"}
_CHUNK = 1 << 20
# A source-folder file above this size (a data set kept next to the pipeline) is keyed by its size
# and modification time, as make and git's index do, instead of being read on every run.
_BIG_SOURCE = 32 << 20


class Uncacheable(Exception):
    """A task input this cache cannot fingerprint (a remote artifact, an unknown value type): the
    task runs, as it would without a cache."""


@functools.lru_cache(maxsize=1)
def installed_kfp_version() -> str:
    """Part of every key: another kfp compiles and executes components differently."""
    from importlib import metadata

    try:
        return metadata.version("kfp")
    except metadata.PackageNotFoundError:
        return "none"


def _kfops_version() -> str:
    from .. import __version__

    return __version__


def canonical(value: Any) -> Any:
    """A JSON value that is equal whenever the task would see the same input.

    KFP stores every number as a protobuf double, so 200 and 200.0 are the same input (the
    component converts to its declared type); booleans stay booleans."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    raise Uncacheable(f"a value of type {type(value).__name__}")


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def content_hash(path: str | os.PathLike[str]) -> str | None:
    """sha256 of a file, or of a folder's relative names and file contents; None when absent."""
    p = Path(path)
    if p.is_file():
        h = hashlib.sha256()
        with p.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                h.update(chunk)
        return h.hexdigest()
    if p.is_dir():
        h = hashlib.sha256(b"dir\0")
        for child in sorted(c for c in p.rglob("*") if c.is_file()):
            h.update(f"{child.relative_to(p).as_posix()}\0{content_hash(child)}\0".encode())
        return h.hexdigest()
    return None


def artifact_fingerprint(uri: str, metadata: Any) -> dict[str, Any]:
    """An input artifact as a task sees it: its content and its metadata (never its path, which
    differs on every run)."""
    if not uri or "://" in uri or not os.path.isabs(uri):
        raise Uncacheable(f"artifact {uri!r} is not a local file")
    return {"sha256": content_hash(uri), "metadata": canonical(metadata or {})}


def source_fingerprint(folder: Path, skip: list[Path]) -> list[tuple[str, str]]:
    """Every file under the pipeline's folder (or the top of the package it is in), by content.

    Why all files and not only what the module imports: a pipeline may read YAML, import a sibling
    module, or load a component from a file; following imports would miss some of these. A stray
    change costs one compile, a missed one would run stale code."""
    top = folder.resolve()
    while (top / "__init__.py").is_file() and (top.parent / "__init__.py").is_file():
        top = top.parent
    skipped = {s.resolve() for s in skip}
    files: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and here / d not in skipped
                             and not (here / d / "pyvenv.cfg").exists())
        for name in sorted(filenames):
            path = here / name
            if path in skipped or name.endswith((".pyc", ".pyo")):
                continue
            try:
                stat = path.stat()
                identity = f"size {stat.st_size} mtime {stat.st_mtime_ns}" if stat.st_size > _BIG_SOURCE \
                    else content_hash(path) or "absent"
            except OSError:  # a dangling link, a file we may not read: the pipeline cannot either
                identity = "unreadable"
            files.append((path.relative_to(top).as_posix(), identity))
    return files


@dataclass
class StepEntry:
    """A verified step-cache entry: what a downstream task's key needs, and where the files are."""

    key: str
    folder: Path
    task_root: str  # the task folder it was copied from (its URIs point there)
    executor_output: dict[str, Any]
    parameters: dict[str, Any]  # output name -> canonical value
    artifacts: dict[str, list[dict[str, Any]]]  # output name -> fingerprints
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # relative path -> size, sha256


class LocalCache:
    """The cache folder of one project; `warn` tells the user about entries it had to ignore."""

    def __init__(self, root: Path, warn: Callable[[str], None]) -> None:
        self.root = root
        self.warn = warn
        self._last_restored_ns = 0

    # --- compiled pipeline --------------------------------------------------------------------

    def compile_key(self, pipeline_section: dict[str, Any], file: Path, function: str,
                    skip: list[Path]) -> str:
        return _digest({
            "format": CACHE_FORMAT, "kfp": installed_kfp_version(), "kfops": _kfops_version(),
            "python": sys.version, "file": str(file.resolve()), "function": function,
            "pipeline": json.loads(json.dumps(pipeline_section, sort_keys=True, default=str)),
            "sources": source_fingerprint(file.parent, skip),
        })

    def compiled(self, key: str, dest: Path) -> PipelinePackage | None:
        """The cached compiled package copied to `dest` (where the compiler would write it), or None."""
        from ..errors import KfopsError
        from .package import land_package

        cached = self.root / "compiled" / f"{key}.yaml"
        if not cached.is_file():
            return None
        try:
            return land_package(dest, lambda path: shutil.copyfile(cached, path))
        except KfopsError as exc:
            self._ignore(cached, str(exc))
            return None

    def store_compiled(self, key: str, package_path: Path) -> None:
        folder = self.root / "compiled"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".yaml", dir=folder)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(package_path.read_bytes())
                os.replace(tmp, folder / f"{key}.yaml")
            finally:
                Path(tmp).unlink(missing_ok=True)  # gone already when the rename happened
        except OSError as exc:
            self.warn(f"could not write the local cache in {folder}: {exc}; the next run compiles again")

    # --- steps --------------------------------------------------------------------------------

    def step_key(self, static: dict[str, Any], parameters: dict[str, Any],
                 artifacts: dict[str, list[dict[str, Any]]]) -> str:
        return _digest({"format": CACHE_FORMAT, "kfp": installed_kfp_version(), "python": sys.version,
                        "task": static, "parameters": canonical(parameters), "artifacts": artifacts})

    def lookup(self, key: str) -> StepEntry | None:
        """The entry for `key` when it is there and intact (every file present, same size)."""
        folder = self.root / "steps" / key
        if not folder.is_dir():
            return None
        try:
            data = json.loads((folder / ENTRY_FILE).read_text(encoding="utf-8"))
            if data.get("format") != CACHE_FORMAT or data.get("key") != key:
                raise ValueError("written by another cache format")
            entry = StepEntry(key, folder, str(data["task_root"]), dict(data["executor_output"]),
                              dict(data["parameters"]), dict(data["artifacts"]), dict(data["files"]))
            for rel, info in entry.files.items():
                path = folder / "files" / rel
                if not path.is_file() or path.stat().st_size != info["size"]:
                    raise ValueError(f"{rel} is missing or has changed")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._ignore(folder, str(exc) or type(exc).__name__)
            return None
        return entry

    def restore(self, entry: StepEntry, task_root: Path) -> bool:
        """Copy an entry's files into `task_root` (checking each file's sha256 as it is copied) and
        write its executor_output.json with the artifact URIs moved there. False if damaged."""
        task_root.mkdir(parents=True, exist_ok=True)
        for rel, info in entry.files.items():
            dest = task_root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if _copy_hashed(entry.folder / "files" / rel, dest) != info["sha256"]:
                self._ignore(entry.folder, f"{rel} does not match its checksum")
                shutil.rmtree(task_root, ignore_errors=True)  # kfp runs the task into a clean folder
                return False
        output = _moved(entry.executor_output, entry.task_root, str(task_root))
        record = task_root / EXECUTOR_OUTPUT
        record.write_text(json.dumps(output), encoding="utf-8")
        # The report lists tasks in the order their record was written (local_record.collect), and
        # restores come faster than the file system's clock ticks: keep them strictly in order.
        stamp = max(record.stat().st_mtime_ns, self._last_restored_ns + 1000)
        os.utime(record, ns=(stamp, stamp))
        self._last_restored_ns = stamp
        (task_root / CACHED_MARKER).write_text(f"outputs restored from {entry.folder}\n", encoding="utf-8")
        return True

    def store(self, key: str, task_root: Path, parameters: dict[str, Any],
              artifacts: dict[str, list[dict[str, Any]]]) -> None:
        """Save a finished task's folder under `key`; a concurrent run's identical entry wins."""
        steps = self.root / "steps"
        final = steps / key
        try:
            executor_output = json.loads((task_root / EXECUTOR_OUTPUT).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            executor_output = {}
        try:
            steps.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=steps))
        except OSError as exc:
            self.warn(f"could not write the local cache in {steps}: {exc}; this step runs again next time")
            return
        try:
            files: dict[str, dict[str, Any]] = {}
            for path in sorted(p for p in task_root.rglob("*") if p.is_file()):
                rel = path.relative_to(task_root).as_posix()
                if rel in (EXECUTOR_OUTPUT, CACHED_MARKER):
                    continue
                dest = tmp / "files" / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                files[rel] = {"size": path.stat().st_size, "sha256": _copy_hashed(path, dest)}
            entry = {"format": CACHE_FORMAT, "key": key, "task_root": str(task_root),
                     "executor_output": executor_output, "parameters": parameters,
                     "artifacts": artifacts, "files": files}
            (tmp / ENTRY_FILE).write_text(json.dumps(entry, indent=1), encoding="utf-8")
            try:
                os.rename(tmp, final)
            except OSError:
                pass  # another run stored the same key first: theirs is as good
        except OSError as exc:
            self.warn(f"could not write the local cache in {steps}: {exc}; this step runs again next time")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename happened

    def _ignore(self, path: Path, reason: str) -> None:
        """Report a damaged entry once and remove it, so that the recomputed one takes its place."""
        self.warn(f"ignoring a damaged local cache entry {path} ({reason}); it is recomputed")
        if path.is_dir():
            _discard(path)
        else:
            path.unlink(missing_ok=True)


def _copy_hashed(src: Path, dest: Path) -> str:
    h = hashlib.sha256()
    with src.open("rb") as inp, dest.open("wb") as out:
        for chunk in iter(lambda: inp.read(_CHUNK), b""):
            h.update(chunk)
            out.write(chunk)
    shutil.copystat(src, dest)
    return h.hexdigest()


def _moved(value: Any, old_root: str, new_root: str) -> Any:
    """executor_output.json with artifact URIs under the old task folder pointing at the new one."""
    if isinstance(value, dict):
        moved = {k: _moved(v, old_root, new_root) for k, v in value.items()}
        uri = moved.get("uri")
        if isinstance(uri, str) and (uri == old_root or uri.startswith(old_root.rstrip("/") + "/")):
            moved["uri"] = new_root + uri[len(old_root):]
        return moved
    if isinstance(value, list):
        return [_moved(v, old_root, new_root) for v in value]
    return value


def _discard(folder: Path) -> None:
    trash = folder.with_name(f".trash-{uuid.uuid4().hex}")
    try:
        os.rename(folder, trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def open_cache(base_dir: Path, warn: Callable[[str], None]) -> LocalCache:
    """The project's cache: next to the local outputs, git-ignored with them (`.kfops/`)."""
    return LocalCache(base_dir / ".kfops" / "cache", warn)


def compile_with_cache(settings: PipelineSettings, pipeline_section: dict[str, Any],
                       cache: LocalCache) -> PipelinePackage:
    """`settings.function` compiled to `settings.package`, from the cache when no file in the
    pipeline's folder, no version and no `pipeline` setting changed since it was compiled."""
    from .package import compile_pipeline, with_caching
    from .source import load_pipeline_function, require_pipeline_file

    require_pipeline_file(settings.file)
    key = cache.compile_key(pipeline_section, settings.file, settings.function,
                            skip=[settings.package, settings.local_outputs, cache.root])
    package = cache.compiled(key, settings.package)
    if package is None:
        package = compile_pipeline(load_pipeline_function(settings.file, settings.function), settings.package)
        if settings.caching is not None:  # stored as it runs, so that a hit has nothing to rewrite
            package = with_caching(package, settings.caching)
        cache.store_compiled(key, settings.package)
    return package
