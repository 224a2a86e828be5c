"""The `docker` builder: `docker buildx build --push` on the machine kfops runs on.

For GitHub-hosted runners, which have Docker with buildx. Per image:

1. hash the build's inputs (context minus .dockerignore, Dockerfile, build args, platform);
2. unless `images.reuse_unchanged: false`, ask the registry for `<registry>/<name>:inputs-<hash>`
   (`docker buildx imagetools inspect`). When it exists, the image is not rebuilt: the commit tag
   is added to the same manifest (`docker buildx imagetools create --tag`, a carbon copy, so the
   digest does not change) and its digest is returned;
3. otherwise `docker buildx build --push` with the commit tag and the inputs tag, and the digest
   that was pushed read from `--metadata-file` (`containerimage.digest`).

Images build in parallel, at most `images.parallel` at a time (default 4): each build is mostly
waiting on the engine and the network, and the engine schedules the CPU-bound parts itself.

Registry login: when credentials are given, `docker login --password-stdin` once before any
build. They are read from the environment only, never from kfops.yaml: for a pull request, the
`images` section comes from the PR itself, and naming an arbitrary variable as "the password"
would let a PR send any secret of the job to a registry of its choosing. So:

    KFOPS_REGISTRY_USERNAME / KFOPS_REGISTRY_PASSWORD   (or the action inputs registry_username /
                                                        registry_password, i.e. INPUT_REGISTRY_*)
    KFOPS_REGISTRY_HOST (or the action input registry)  the host to log in to; required with the
                                                        credentials (never taken from images.registry)

The host must be set with the credentials: a PR that points images.registry elsewhere then gets
no credentials for it (without the host, kfops refuses to log in rather than guess). Without credentials, no login happens (the runner may already be logged
in, e.g. by docker/login-action). The password goes to docker on stdin, never on a command line,
and is scrubbed from any output kfops shows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, Problem, shown
from .builder import BuiltImage, ImageSpec
from .errors import ImageBuildError, image_problem, log_problem, scrub, tail
from .inputs import worktree_inputs

DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
NO_DOCKER = ("the docker builder needs Docker on the runner; on a machine without it use builder: kaniko")


@dataclass(frozen=True)
class DockerSettings:
    """`images` settings the docker builder uses (see the schema for each)."""

    platform: str | None = None
    cache: str = "none"  # none | registry | gha
    parallel: int = 4
    reuse_unchanged: bool = True
    timeout_seconds: float = 3600.0
    log_lines: int = 40

    @classmethod
    def from_section(cls, images: Mapping[str, Any]) -> DockerSettings:
        docker = images.get("docker") or {}
        return cls(platform=docker.get("platform"), cache=docker.get("cache", "none"),
                   parallel=int(images.get("parallel", 4)),
                   reuse_unchanged=bool(images.get("reuse_unchanged", True)),
                   timeout_seconds=float(images.get("timeout_seconds", 3600)),
                   log_lines=int(images.get("log_lines", 40)))


@dataclass(frozen=True)
class Credentials:
    host: str | None  # None: docker's default registry
    username: str
    password: str


def registry_host(registry: str) -> str | None:
    """The host part of a repository prefix, as Docker decides it: the first path component when
    it has a dot or a port or is `localhost`; else Docker Hub (None)."""
    first = registry.split("/", 1)[0]
    return first if ("." in first or ":" in first or first == "localhost") else None


def _env_value(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def credentials_from_env(env: Mapping[str, str], registry: str) -> Credentials | None:
    """Login credentials from the environment (see the module docstring), or None."""
    username = _env_value(env, "KFOPS_REGISTRY_USERNAME", "INPUT_REGISTRY_USERNAME", "INPUT_REGISTRY-USERNAME")
    password = _env_value(env, "KFOPS_REGISTRY_PASSWORD", "INPUT_REGISTRY_PASSWORD", "INPUT_REGISTRY-PASSWORD")
    if username is None and password is None:
        return None
    if username is None or password is None:
        missing = "KFOPS_REGISTRY_USERNAME" if username is None else "KFOPS_REGISTRY_PASSWORD"
        raise ConfigError(f"registry login needs a username and a password; {missing} is not set",
                          fix="set both KFOPS_REGISTRY_USERNAME and KFOPS_REGISTRY_PASSWORD (or the action "
                              "inputs registry_username and registry_password), or neither")
    host = _env_value(env, "KFOPS_REGISTRY_HOST", "INPUT_REGISTRY")
    if host is None:
        # images.registry comes from the PR: taking the host from it would hand the password to
        # whatever registry a pull request names.
        raise ConfigError(
            "registry credentials are set but the registry to log in to is not",
            [Problem(f"images.registry ({shown(registry)}) comes from the pull request, so kfops does not "
                     "send the registry password to its host", "action input registry / KFOPS_REGISTRY_HOST")],
            fix=f"set the action's `registry` input (or KFOPS_REGISTRY_HOST) to the registry host, e.g. "
                f"{registry_host(registry) or 'docker.io'}")
    return Credentials(host, username, password)


@dataclass
class _Result:
    code: int  # -1 when docker could not run or was stopped at the timeout
    output: str
    timed_out: bool = False


class _ImageFailed(Exception):
    """One image's failure, collected so that the other images still finish and all are reported."""

    def __init__(self, image: str, message: str, log: str | None = None) -> None:
        super().__init__(message)
        self.image, self.message, self.log = image, message, log


class DockerBuilder:
    """Builds with the local `docker` CLI (buildx); see the module docstring."""

    kind = "docker"

    def __init__(self, settings: DockerSettings | None = None, *, env: Mapping[str, str] | None = None,
                 progress: Callable[[str], None] | None = None, executable: str = "docker") -> None:
        self.settings = settings or DockerSettings()
        self._env = env
        self.progress = progress or (lambda message: None)
        self.executable = executable
        self._secrets: list[str] = []

    @classmethod
    def from_config(cls, images_section: Mapping[str, Any], base_dir: Path) -> DockerBuilder:
        return cls(DockerSettings.from_section(images_section))

    @property
    def env(self) -> Mapping[str, str]:
        """The environment at build time (not at construction), so a test or a job step can set it."""
        return self._env if self._env is not None else os.environ

    # -- one docker invocation ------------------------------------------------------------------

    def _docker(self) -> str:
        found = shutil.which(self.executable, path=self.env.get("PATH"))
        if found is None:
            raise ImageBuildError(NO_DOCKER + f" (no `{self.executable}` executable on PATH)",
                                  fix="install Docker with buildx on the runner, or set images.builder: kaniko "
                                      "to build in the cluster", exit_code=2)
        return found

    def _run(self, docker: str, args: Sequence[str], *, stdin: str | None = None,
             timeout: float | None = None) -> _Result:
        """Run docker, stdout and stderr together (a build's story is told across both)."""
        try:
            done = subprocess.run([docker, *args], input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                  env=dict(self.env), timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            out = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else (exc.output or "")
            return _Result(-1, scrub(out, self._secrets) + f"\n(stopped after {timeout:g} s)", timed_out=True)
        except OSError as exc:
            return _Result(-1, f"cannot run {docker}: {exc}")
        return _Result(done.returncode, scrub(done.stdout or "", self._secrets))

    # -- the steps ------------------------------------------------------------------------------

    def _check_buildx(self, docker: str) -> None:
        result = self._run(docker, ["buildx", "version"], timeout=60)
        if result.code != 0:
            raise ImageBuildError("docker is installed but `docker buildx` does not work",
                                  [log_problem("docker buildx version", tail(result.output, self.settings.log_lines))],
                                  fix="install the buildx plugin (GitHub-hosted runners have it; "
                                      "docker/setup-buildx-action sets it up elsewhere)", exit_code=2)

    def _login(self, docker: str, creds: Credentials) -> None:
        self._secrets.append(creds.password)
        args = ["login", "--username", creds.username, "--password-stdin"] + ([creds.host] if creds.host else [])
        result = self._run(docker, args, stdin=creds.password, timeout=120)
        if result.code != 0:
            where = creds.host or "Docker Hub"
            raise ImageBuildError(f"docker login to {where} as {creds.username} failed",
                                  [log_problem(f"docker login (exit {result.code})",
                                              tail(result.output, self.settings.log_lines))],
                                  fix="check KFOPS_REGISTRY_USERNAME / KFOPS_REGISTRY_PASSWORD (or the action inputs "
                                      "registry_username / registry_password) and that the token may push there")

    def _existing_digest(self, docker: str, reference: str) -> str | None:
        """The digest behind `reference` in the registry, or None when it is not there.

        Any failure counts as "not there": the build that follows pushes to the same registry and
        fails with the real reason (authentication, network) if there is one.
        """
        result = self._run(docker, ["buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}", reference],
                           timeout=120)
        if result.code != 0:
            return None
        try:
            digest = json.loads(result.output).get("digest")
        except (ValueError, AttributeError):
            match = re.search(r"Digest:\s*(sha256:[0-9a-f]{64})", result.output)
            digest = match.group(1) if match else None
        return digest if isinstance(digest, str) and DIGEST_RE.fullmatch(digest) else None

    def build_command(self, spec: ImageSpec, tags: Sequence[str], metadata_file: Path) -> list[str]:
        """The exact `docker buildx build` arguments (public so the docs and tests can show them)."""
        args = ["buildx", "build", "--push", "--progress=plain", "--file", str(spec.dockerfile)]
        for tag in tags:
            args += ["--tag", tag]
        if self.settings.platform:
            args += ["--platform", self.settings.platform]
        for key in sorted(spec.build_args):
            args += ["--build-arg", f"{key}={spec.build_args[key]}"]
        repository = tags[0].rsplit(":", 1)[0]
        if self.settings.cache == "registry":
            args += ["--cache-from", f"type=registry,ref={repository}:buildcache",
                     "--cache-to", f"type=registry,ref={repository}:buildcache,mode=max"]
        elif self.settings.cache == "gha":
            args += ["--cache-from", f"type=gha,scope={spec.name}", "--cache-to", f"type=gha,scope={spec.name},mode=max"]
        args += ["--metadata-file", str(metadata_file), str(spec.context)]
        return args

    def _build_one(self, docker: str, spec: ImageSpec, registry: str, tag: str, workdir: Path) -> BuiltImage:
        reference = spec.reference(registry, tag)
        try:
            extra = {"platform": self.settings.platform} if self.settings.platform else {}
            inputs = worktree_inputs(spec.context, spec.dockerfile, spec.build_args, extra)
        except ImageBuildError as exc:
            raise _ImageFailed(spec.name, exc.what) from None
        inputs_ref = spec.reference(registry, f"inputs-{inputs}")
        repository = reference.rsplit(":", 1)[0]
        timeout = self.settings.timeout_seconds
        if self.settings.reuse_unchanged:
            digest = self._existing_digest(docker, inputs_ref)
            if digest:
                result = self._run(docker, ["buildx", "imagetools", "create", "--tag", reference,
                                            f"{repository}@{digest}"], timeout=timeout)
                if result.code != 0:
                    raise _ImageFailed(spec.name, f"inputs unchanged ({inputs_ref} exists) but tagging it {reference} "
                                                  f"failed (exit {result.code})", tail(result.output, self.settings.log_lines))
                self.progress(f"{spec.name}: inputs unchanged, reused {inputs_ref} as {reference} ({digest})")
                return BuiltImage(spec.name, reference, digest)
        metadata = workdir / f"{spec.name}.metadata.json"
        tags = [reference, inputs_ref] if self.settings.reuse_unchanged else [reference]
        self.progress(f"{spec.name}: building {reference}")
        result = self._run(docker, self.build_command(spec, tags, metadata), timeout=timeout)
        if result.code != 0:
            cause = (f"docker buildx build timed out after {timeout:g} s" if result.timed_out
                     else f"docker buildx build failed (exit {result.code})")
            raise _ImageFailed(spec.name, cause, tail(result.output, self.settings.log_lines))
        digest = self._pushed_digest(metadata)
        if digest is None:
            raise _ImageFailed(spec.name, f"the build pushed {reference} but reported no digest "
                                          f"(no containerimage.digest in {metadata.name})",
                               tail(result.output, self.settings.log_lines))
        self.progress(f"{spec.name}: pushed {reference} ({digest})")
        return BuiltImage(spec.name, reference, digest)

    @staticmethod
    def _pushed_digest(metadata: Path) -> str | None:
        try:
            digest = json.loads(metadata.read_text(encoding="utf-8")).get("containerimage.digest")
        except (OSError, ValueError, AttributeError):
            return None
        return digest if isinstance(digest, str) and DIGEST_RE.fullmatch(digest) else None

    # -- the interface --------------------------------------------------------------------------

    def build(self, images: list[ImageSpec], registry: str, tag: str) -> list[BuiltImage]:
        """Build (or reuse) every image, in parallel; all or an ImageBuildError naming each failure."""
        if not images:
            return []
        docker = self._docker()
        self._check_buildx(docker)
        creds = credentials_from_env(self.env, registry)
        if creds is not None:
            self._login(docker, creds)
        results: dict[str, BuiltImage] = {}
        failures: list[_ImageFailed] = []
        with tempfile.TemporaryDirectory(prefix="kfops-docker-") as tmp, \
                ThreadPoolExecutor(max_workers=max(1, min(self.settings.parallel, len(images))),
                                   thread_name_prefix="kfops-build") as pool:
            futures = {spec.name: pool.submit(self._build_one, docker, spec, registry, tag, Path(tmp))
                       for spec in images}
            for name, future in futures.items():
                try:
                    results[name] = future.result()
                except _ImageFailed as failed:
                    failures.append(failed)
        if failures:
            raise self._failure(images, results, failures)
        return [results[spec.name] for spec in images]

    def _failure(self, images: list[ImageSpec], results: dict[str, BuiltImage],
                 failures: list[_ImageFailed]) -> ImageBuildError:
        names = ", ".join(f.image for f in failures)
        what = f"{len(failures)} of {len(images)} image build(s) failed: {names}"
        if results:
            what += f" (done: {', '.join(results)})"
        return ImageBuildError(what, [image_problem(f.image, f.message, f.log) for f in failures],
                               fix="fix the cause shown above (Dockerfile, context, registry access) and build again")
