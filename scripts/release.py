"""The release's own steps, as one script that the workflow and the tests both run.

    python scripts/release.py check-version vX.Y.Z          prints X (the major version)
    python scripts/release.py tool-pins                     prints the pinned build and twine
    python scripts/release.py build-dist OUTDIR [--with-deps]
    python scripts/release.py pin-image ACTION_YML ghcr.io/OWNER/NAME@sha256:DIGEST
    python scripts/release.py base-image [--local]          prints ref=TAG@sha256:D and digest=sha256:D
    python scripts/release.py dry-run [--require-image]

.github/workflows/release.yml runs these on a pushed tag; docs/releasing.md describes the whole
release. Publishing (GHCR, PyPI, moving the tags) happens only in the workflow: nothing here
talks to GitHub, a registry or PyPI, so every step of a release that can go wrong before it
publishes can be tried on a workstation with `dry-run`, and tests/test_release.py runs them.

Standard library only (Python 3.11+): the release job runs it before installing anything, and
action.yml's text is rewritten line by line rather than through a YAML library, because a YAML
round trip would reformat the file and the release commit must change one line only.
Exit status: 0 done, 1 the release must stop (the message says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
PACKAGE = "kfops_action"
# What the `image` input's default line is found by: the comment right above it.
MARKER = "kfops-release:"
# The image the dry run builds and names, as the workflow names the published one.
DRY_RUN_IMAGE = "ghcr.io/kfops/action"
TAG_RE = re.compile(r"v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
# Only a digest names one image forever: a tag (`:1.2.3`) can be pushed again. Lower case only,
# as image references must be (the workflow lower-cases the repository's name).
IMAGE_REF_RE = re.compile(r"ghcr\.io/[a-z0-9](?:[a-z0-9-]*[a-z0-9])?/[a-z0-9]+(?:[._-][a-z0-9]+)*"
                          r"@sha256:[0-9a-f]{64}")
# The Dockerfile's base image: its `ARG PYTHON_IMAGE=<tag>` line, a tag the release resolves to a digest.
BASE_ARG_RE = re.compile(r"^ARG PYTHON_IMAGE=(\S+)$", re.M)
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
# The release tools pinned in pyproject.toml's test extra: the workflow installs these exactly.
RELEASE_TOOLS = ("build", "twine")


class ReleaseError(Exception):
    """A reason to stop the release; main() prints it and exits 1."""


def log(message: str) -> None:
    """Progress goes to stderr, so stdout carries only what the workflow reads (the major)."""
    print(message, file=sys.stderr, flush=True)


def run(command: list[str], *, cwd: Path = ROOT, timeout: float = 900,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool and fail the release with its output when it fails: a step's log then shows
    the tool's own words, not a traceback."""
    log("$ " + " ".join(command))
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise ReleaseError(f"{command[0]} {command[1] if len(command) > 1 else ''} failed "
                           f"(exit {done.returncode}):\n{done.stdout}{done.stderr}".rstrip())
    return done


def project_version() -> str:
    """pyproject.toml's version: the one source of the release's version number."""
    return str(tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"])


def package_version() -> str:
    """kfops_action.__version__ (what `kfc --version` says), read without importing kfops."""
    text = (ROOT / PACKAGE / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if found is None:
        raise ReleaseError(f"{PACKAGE}/__init__.py has no __version__ line")
    return found.group(1)


# -- check-version ------------------------------------------------------------------------------


def check_version(tag: str) -> str:
    """Return the major version of `tag` after checking that it names this tree's version.

    A tag that disagrees with pyproject.toml would publish a wheel and an image under one
    number and move the action's tags to another: stop before anything is built."""
    match = TAG_RE.fullmatch(tag)
    if match is None:
        raise ReleaseError(f"tag {tag!r} is not a release tag: expected vX.Y.Z (e.g. v1.2.3)")
    version, code = project_version(), package_version()
    if tag[1:] != version:
        raise ReleaseError(f"tag {tag} does not match pyproject.toml's version {version}: "
                           f"set version = \"{tag[1:]}\" there (and in {PACKAGE}/__init__.py), "
                           f"or tag v{version}")
    if code != version:
        raise ReleaseError(f"{PACKAGE}/__init__.py says __version__ = \"{code}\" but pyproject.toml "
                           f"says {version}: `kfc --version` would name the wrong release")
    return match.group(1)


# -- tool-pins ----------------------------------------------------------------------------------


def tool_pins() -> list[str]:
    """The `name==version` pins of the release tools in pyproject.toml's test extra, so the
    workflow installs what the tests ran with and the versions are written in one place."""
    extras = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    pins = {}
    for spec in extras["test"]:
        name, sep, version = spec.partition("==")
        if sep and name.strip() in RELEASE_TOOLS:
            pins[name.strip()] = f"{name.strip()}=={version.strip()}"
    missing = [name for name in RELEASE_TOOLS if name not in pins]
    if missing:
        raise ReleaseError(f"pyproject.toml's test extra does not pin {', '.join(missing)} exactly (name==X.Y)")
    return [pins[name] for name in RELEASE_TOOLS]


# -- build-dist ---------------------------------------------------------------------------------


# Files of the package that are not shipped, by suffix: everything else must be in the wheel, so a
# data file added without a package-data line in pyproject.toml stops the release.
NOT_SHIPPED = {
    ".pyc": "bytecode",
    ".proto": "the source of metrics/mlmd_min_pb2.py (scripts/generate_mlmd_pb2.sh)",
    ".pyi": "type stubs, for editors and mypy on this repository",
}


def _source_files() -> set[str]:
    """The package's files as a wheel must hold them: every module and every data file,
    relative to the repository."""
    found = set()
    for path in (ROOT / PACKAGE).rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in NOT_SHIPPED:
            found.add(path.relative_to(ROOT).as_posix())
    return found


def check_dist(outdir: Path, version: str) -> tuple[Path, Path]:
    """Check the built files' contents: what `python -m build` and twine cannot know.

    setuptools leaves out, without a word, any file package-data does not name (the config
    schema, the `kfc init` templates) and any folder without an __init__.py; the wheel is built
    from the sdist, so the sdist must hold everything too."""
    wheels, sdists = sorted(outdir.glob("*.whl")), sorted(outdir.glob("*.tar.gz"))
    if [w.name for w in wheels] != [f"kfops-{version}-py3-none-any.whl"] or \
            [s.name for s in sdists] != [f"kfops-{version}.tar.gz"]:
        raise ReleaseError(f"{outdir} should hold exactly kfops-{version}-py3-none-any.whl and "
                           f"kfops-{version}.tar.gz, not {[p.name for p in wheels + sdists]}")
    wheel, sdist = wheels[0], sdists[0]
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
        entry_points = archive.read(f"kfops-{version}.dist-info/entry_points.txt").decode()
    expected = _source_files()
    required = {f"{PACKAGE}/config/schema.json", f"{PACKAGE}/onboarding/templates/kfops.yml",
                f"{PACKAGE}/onboarding/templates/quickstart/pipeline.py.txt"}
    if not required <= expected:
        raise ReleaseError(f"the source tree lacks {sorted(required - expected)}")
    missing = sorted(expected - in_wheel)
    if missing:
        raise ReleaseError(f"{wheel.name} lacks {len(missing)} file(s) of {PACKAGE}/ (package-data in "
                           f"pyproject.toml?): {missing[:10]}")
    strays = sorted(name for name in in_wheel if not name.startswith((f"{PACKAGE}/", f"kfops-{version}.dist-info/")))
    if strays:
        raise ReleaseError(f"{wheel.name} holds files outside {PACKAGE}/: {strays[:10]}")
    for script in ("kfc = kfops_action.cli:main", "kfops-action = kfops_action.action_main:main"):
        if script not in entry_points:
            raise ReleaseError(f"{wheel.name} does not install the command `{script}`")
    with tarfile.open(sdist) as archive:
        prefix = f"kfops-{version}/"
        in_sdist = {name.removeprefix(prefix) for name in archive.getnames()}
    missing = sorted((expected | {"pyproject.toml", "README.md"}) - in_sdist)
    if missing:
        raise ReleaseError(f"{sdist.name} lacks {missing[:10]}")
    return wheel, sdist


def smoke_test(wheel: Path, version: str, workdir: Path, *, with_deps: bool) -> None:
    """Install the wheel into a fresh virtual environment and start `kfc`, as a user would.

    Without dependencies this proves the commands and the package's data (cheap: `kfc --help`
    imports none of them). With them (the workflow), it installs the action's lock as the Action
    does (hash-checked, locked_install.py), then the wheel: `pip check` then proves the lock
    satisfies the wheel's requirements, and the Action's modules import."""
    venv = workdir / "venv"
    # No pip inside: this interpreter's pip installs into it (--python), as the Dockerfile does.
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python, bindir = venv / "bin" / "python", venv / "bin"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    if with_deps:
        from locked_install import install_lock  # scripts/, beside this file

        install_lock([*pip, "install", "--quiet"], project=wheel, run=lambda command, env: run(command, env=env))
        run([*pip, "check"])
        run([str(python), "-c", "import kfp, kubernetes, kfops_action.action_main"])
    else:
        run([*pip, "install", "--quiet", "--no-deps", str(wheel)])
    # Run from the work directory, not the repository: the installed package must be the one used.
    helped = run([str(bindir / "kfc"), "--help"], cwd=workdir)
    if "usage: kfc" not in helped.stdout:
        raise ReleaseError(f"`kfc --help` from the wheel printed no usage:\n{helped.stdout}")
    said = run([str(bindir / "kfc"), "--version"], cwd=workdir).stdout.strip()
    if version not in said.split():
        raise ReleaseError(f"`kfc --version` from the wheel says {said!r}, not {version}")
    # Found without importing the package, which would need its dependencies.
    schema = run([str(python), "-c", "import importlib.util as u, pathlib as p; "
                  f"print(p.Path(u.find_spec('{PACKAGE}').origin).with_name('config').joinpath('schema.json')"
                  ".stat().st_size)"], cwd=workdir)
    if int(schema.stdout.strip() or 0) < 100:
        raise ReleaseError("the installed wheel's config/schema.json is missing or empty")


def build_dist(outdir: Path, *, with_deps: bool = False) -> tuple[Path, Path]:
    """Build the sdist, then the wheel from it, into `outdir`; check them as PyPI would
    (`twine check --strict`) and as a user would (install, `kfc --help`). Returns (wheel, sdist)."""
    version = project_version()
    outdir.mkdir(parents=True, exist_ok=True)
    leftovers = sorted(p.name for p in outdir.iterdir())
    if leftovers:
        raise ReleaseError(f"{outdir} is not empty ({leftovers[:5]}): the release uploads everything in it")
    # No --sdist/--wheel: build makes the sdist, then the wheel from the unpacked sdist, so a file
    # missing from the sdist is missing from the wheel too and check_dist sees it.
    run([sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)])
    wheel, sdist = check_dist(outdir, version)
    run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)])
    with tempfile.TemporaryDirectory(prefix="kfops-smoke-") as work:
        smoke_test(wheel, version, Path(work), with_deps=with_deps)
    log(f"built and checked {wheel.name} and {sdist.name} in {outdir}")
    return wheel, sdist


# -- pin-image ----------------------------------------------------------------------------------


def check_image_ref(image_ref: str) -> None:
    """Refuse anything but `ghcr.io/<owner>/<name>@sha256:<64 hex>`: the released action must
    run exactly the image the release built, which only a digest guarantees."""
    if IMAGE_REF_RE.fullmatch(image_ref) is None:
        if "@sha256:" not in image_ref:
            why = "it names no digest (a tag such as :1.2.3 can be pushed again)"
        elif not re.search(r"@sha256:[0-9a-f]{64}\Z", image_ref):
            why = "its digest is not sha256: followed by 64 lower-case hex digits"
        else:
            why = "it is not ghcr.io/<owner>/<name> in lower case"
        raise ReleaseError(f"refusing image {image_ref!r}: {why}")


def pin_image(action_yml: Path, image_ref: str) -> tuple[str, str, int]:
    """Rewrite the `default:` line of action.yml's `image` input to `image_ref`, every other
    byte kept. Returns (old line, new line, line number).

    The line is the one right after the comment holding MARKER, and that comment must sit in
    the `image` input: a moved or duplicated marker stops the release rather than pin something
    else."""
    check_image_ref(image_ref)
    data = action_yml.read_bytes()
    lines = data.decode("utf-8").splitlines(keepends=True)
    marked = [i for i, line in enumerate(lines) if line.lstrip().startswith("#") and MARKER in line]
    if len(marked) != 1:
        raise ReleaseError(f"{action_yml}: expected one comment containing {MARKER!r} right above the "
                           f"`image` input's default, found {len(marked)}")
    at = marked[0]
    indent = len(lines[at]) - len(lines[at].lstrip())
    owner = next((lines[i] for i in range(at - 1, -1, -1)
                  if lines[i].strip() and not lines[i].lstrip().startswith("#")
                  and len(lines[i]) - len(lines[i].lstrip()) < indent), "")
    if owner.strip() != "image:":
        raise ReleaseError(f"{action_yml}:{at + 1}: the {MARKER!r} comment is not inside the `image` input")
    if at + 1 >= len(lines) or not re.fullmatch(r"[ ]*default:.*\r?\n?", lines[at + 1]) \
            or len(lines[at + 1]) - len(lines[at + 1].lstrip()) != indent:
        raise ReleaseError(f"{action_yml}:{at + 2}: the line after the {MARKER!r} comment is not the "
                           f"`image` input's `default:`")
    old = lines[at + 1]
    ending = old[len(old.rstrip("\r\n")):]
    new = " " * indent + f"default: {image_ref}" + ending
    lines[at + 1] = new
    action_yml.write_bytes("".join(lines).encode("utf-8"))
    return old.rstrip("\r\n"), new.rstrip("\r\n"), at + 2


# -- base-image ---------------------------------------------------------------------------------


def base_tag() -> str:
    """The base image's tag, from the Dockerfile's `ARG PYTHON_IMAGE=` default."""
    found = BASE_ARG_RE.findall((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    if len(found) != 1:
        raise ReleaseError(f"the Dockerfile should have one `ARG PYTHON_IMAGE=<image>` line, found {len(found)}")
    if "@" in found[0]:
        raise ReleaseError(f"the Dockerfile's PYTHON_IMAGE default {found[0]} already names a digest: keep a tag "
                           "there (the release pins it), or the release would pin it twice")
    return found[0]


def base_image(*, local: bool = False) -> tuple[str, str]:
    """(tag@digest, digest) of the base image: what the release builds from and records.

    A tag (python:3.11-slim-bookworm) moves with every Debian or Python patch release; the
    release builds from the digest the tag names at that moment, so the published image's base
    is one fixed image, named in its labels. From the registry (`docker buildx imagetools
    inspect`: the multi-platform index's digest, which covers amd64 and arm64), or, `local`, the
    digest the local engine holds for the tag (the dry run, where no registry is reachable)."""
    tag = base_tag()
    if local:
        listed = json.loads(run(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", tag]).stdout)
        digests = [ref.rpartition("@")[2] for ref in listed or []]
        where = f"the local engine's {tag} (RepoDigests: {listed})"
    else:
        manifest = json.loads(run(["docker", "buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}",
                                   tag]).stdout)
        digests = [manifest.get("digest", "")] if isinstance(manifest, dict) else []
        where = f"the registry's {tag} (manifest: {manifest})"
    digests = [d for d in digests if DIGEST_RE.fullmatch(d)]
    if not digests:
        raise ReleaseError(f"no sha256 digest for {where}")
    return f"{tag}@{digests[0]}", digests[0]


# -- dry-run ------------------------------------------------------------------------------------


def engine_available() -> str | None:
    """Why no container engine can be used, or None when one answers. DOCKER_HOST must name it:
    the dry run never guesses at a socket (the engine here is Podman behind Docker's API)."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    if not os.environ.get("DOCKER_HOST"):
        return "DOCKER_HOST is not set"
    done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                          text=True, timeout=60)
    if done.returncode != 0:
        return f"the engine at DOCKER_HOST does not answer: {done.stderr.strip()}"
    return None


def tool_path(name: str) -> str:
    """A tool of the test extra: beside this interpreter (a venv's bin) or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise ReleaseError(f"{name} is not installed: pip install -e '.[test]'")
    return found


def dry_run_image(version: str, workdir: Path, name: str = DRY_RUN_IMAGE) -> str:
    """Build the image as the release does, start it, and pin its digest into a copy of
    action.yml that must still be a valid action. Returns the pinned reference."""
    tag = f"{name}:dry-run"
    base_ref, base_digest = base_image(local=True)
    log(f"base image: {base_ref}")
    # --network host: the engine used here reaches the package index only through the host.
    run(["docker", "build", "--network", "host", "--build-arg", f"VERSION={version}",
         "--build-arg", f"PYTHON_IMAGE={base_ref}", "--build-arg", f"BASE_DIGEST={base_digest}",
         "--tag", tag, str(ROOT)], timeout=1800)
    labels = json.loads(run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag]).stdout) or {}
    recorded = (labels.get("org.opencontainers.image.base.name"), labels.get("org.opencontainers.image.base.digest"))
    if recorded != (base_ref, base_digest):
        raise ReleaseError(f"{tag} records its base as {recorded}, not ({base_ref!r}, {base_digest!r}): the "
                           "Dockerfile's org.opencontainers.image.base.* labels must take PYTHON_IMAGE and BASE_DIGEST")
    # No --rm: Podman behind Docker's API (the engine of the tests) reports exit status 0 for
    # `docker run --rm` whatever the container exited with, which would hide a failing --help.
    container = f"kfops-release-dry-run-{os.getpid()}"
    try:
        helped = subprocess.run(["docker", "run", "--name", container, tag, "--help"], capture_output=True,
                                text=True, timeout=300)
    finally:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True, timeout=120)
    if helped.returncode != 0 or "usage" not in helped.stdout.lower():
        raise ReleaseError(f"`docker run {tag} --help` must print kfops-action's usage and exit 0; it exited "
                           f"{helped.returncode}:\n{helped.stdout}{helped.stderr}".rstrip())
    digests = json.loads(run(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", tag]).stdout)
    refs = [ref for ref in digests or [] if ref.startswith(name + "@")]
    if not refs:
        raise ReleaseError(f"the engine gives {tag} no digest under {name} (RepoDigests: {digests})")
    copy = workdir / "action.yml"
    shutil.copyfile(ROOT / "action.yml", copy)
    old, new, line = pin_image(copy, refs[0])
    log(f"{copy}:{line}\n-{old}\n+{new}")
    run([tool_path("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(copy)])
    return refs[0]


def dry_run(*, require_image: bool) -> None:
    """Everything the release workflow does except publishing, against this work tree."""
    version = project_version()
    major = check_version(f"v{version}")
    log(f"check-version v{version}: major {major}")
    with tempfile.TemporaryDirectory(prefix="kfops-release-") as work:
        build_dist(Path(work) / "dist")
        why_not = engine_available()
        if why_not is not None:
            if require_image:
                raise ReleaseError(f"the image cannot be built: {why_not} "
                                   '(eval "$(../shared/test-infra/start-container-engine.sh)")')
            log(f"skipping the image: {why_not} (--require-image makes this an error)")
            return
        ref = dry_run_image(version, Path(work))
    log(f"dry run passed: v{version} (major {major}); the image would be pinned as {ref}")


# -- command line -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("check-version", help="check a vX.Y.Z tag against pyproject.toml; print X")
    cmd.add_argument("tag")
    commands.add_parser("tool-pins", help="print the exact pins of build and twine from pyproject.toml")
    cmd = commands.add_parser("build-dist", help="build, twine-check and smoke-test the sdist and wheel")
    cmd.add_argument("outdir", type=Path)
    cmd.add_argument("--with-deps", action="store_true",
                     help="smoke-test the wheel with its dependencies (from the package index)")
    cmd = commands.add_parser("pin-image", help="write IMAGE_REF into action.yml's `image` default")
    cmd.add_argument("action_yml", type=Path)
    cmd.add_argument("image_ref")
    cmd = commands.add_parser("base-image", help="print the Dockerfile's base image by digest (GITHUB_OUTPUT lines)")
    cmd.add_argument("--local", action="store_true", help="the local engine's image instead of the registry's")
    cmd = commands.add_parser("dry-run", help="the release minus publishing")
    cmd.add_argument("--require-image", action="store_true",
                     help="fail, instead of skipping the image, when no container engine answers")
    args = parser.parse_args(argv)
    try:
        if args.command == "check-version":
            print(check_version(args.tag))
        elif args.command == "tool-pins":
            print("\n".join(tool_pins()))
        elif args.command == "build-dist":
            build_dist(args.outdir, with_deps=args.with_deps)
        elif args.command == "pin-image":
            old, new, line = pin_image(args.action_yml, args.image_ref)
            print(f"{args.action_yml}:{line}\n-{old}\n+{new}")
        elif args.command == "base-image":
            ref, digest = base_image(local=args.local)
            print(f"ref={ref}\ndigest={digest}")
        elif args.command == "dry-run":
            dry_run(require_image=args.require_image)
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
