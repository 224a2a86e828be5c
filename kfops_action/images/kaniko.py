"""The `kaniko` builder: one Kubernetes Job per image, in the cluster's build namespace.

For runners without Docker, and for clusters that should build where they pull. The Job it
creates is described in `kaniko_job` (git context at the pinned commit, digest through the
termination message). Here: create the Jobs, follow them, and turn what the cluster says into
a result or an error worth reading.

- All Jobs of one call are created up front and run side by side (the cluster schedules them);
  they are followed together with one `list` per poll, selected by a per-call label, so following
  five builds costs what following one does.
- Succeeded: the digest is the builder container's termination message (Kaniko wrote it to
  /dev/termination-log). A Job that succeeded without one is an error: the pipeline pins images
  by digest.
- Failed: the Job's own reason (BackoffLimitExceeded, DeadlineExceeded), the container's exit,
  and the last lines of its log (`read_namespaced_pod_log(tail_lines=...)`). When the log cannot
  be read (the pod is gone, the node is unreachable, no kubelet answers), the termination message,
  which `FallbackToLogsOnError` filled with the log's tail, stands in; failing that, the error says
  the log is unavailable and why.
- Timeout (`images.timeout_seconds`, also the Job's activeDeadlineSeconds): the Job is deleted
  (with its pods) and the error says what the pod was waiting for (ImagePullBackOff, Pending...).
  A Job still running when kfops itself is interrupted is deleted too.
- Reuse: the input hash (from the commit's git tree, see `inputs`) of each built image is recorded
  in the ConfigMap `kfops-image-inputs` of the build namespace; an image whose inputs were built
  before is not rebuilt, and its `inputs-<hash>` tag and recorded digest are returned. Kaniko
  pushes that tag next to the commit tag. (It cannot add the commit tag later without a build:
  the pipeline pins the digest either way.) If the cluster denies the ConfigMap, builds go on
  without reuse.

The build reads the commit from git, so uncommitted changes cannot be in the image: a dirty
working tree is refused rather than silently built without them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..gitinfo import current_commit
from .builder import BuiltImage, ImageSpec
from .errors import ImageBuildError, image_problem, tail
from .inputs import git_inputs
from .kaniko_job import (BUILD_LABEL, CONTAINER, DEFAULT_IMAGE, DOCKERCONFIGJSON, MANAGED_BY, GitSource, JobRequest, KanikoSettings,
                         job_manifest, normalize_git_url, relative_to_repo)
from .kube_errors import describe, kube_error, status_of

RECORDS_CONFIGMAP = "kfops-image-inputs"
DIGEST_PREFIX = "sha256:"
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


def settings_from_section(images: Mapping[str, Any]) -> KanikoSettings:
    kaniko = images.get("kaniko") or {}
    if not kaniko.get("namespace"):
        raise ConfigError("images.builder is kaniko but images.kaniko.namespace is not set",
                          fix="set images.kaniko.namespace to the namespace where build Jobs may run")
    return KanikoSettings(
        namespace=kaniko["namespace"], image=kaniko.get("image", DEFAULT_IMAGE),
        service_account=kaniko.get("service_account"), registry_secret=kaniko.get("registry_secret"),
        registry_secret_key=kaniko.get("registry_secret_key", DOCKERCONFIGJSON),
        git_secret=kaniko.get("git_secret"), git_url=kaniko.get("git_url"), kube_context=kaniko.get("kube_context"),
        cache=bool(kaniko.get("cache", False)), resources=kaniko.get("resources") or {},
        ttl_seconds_after_finished=int(kaniko.get("ttl_seconds_after_finished", 3600)),
        timeout_seconds=float(images.get("timeout_seconds", 3600)), log_lines=int(images.get("log_lines", 40)),
        reuse_unchanged=bool(images.get("reuse_unchanged", True)))


def default_api_client(context: str | None = None) -> Any:
    """A client from the kubeconfig (KUBECONFIG or ~/.kube/config), else the in-cluster identity."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    from ..kubeconfig import api_client

    path = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0].strip()
    try:
        # A malformed KUBECONFIG is a clear ConfigError (kubeconfig.py), not the YAML library's.
        return api_client(path, context=context) if path else config.new_client_from_config(context=context)
    except (ConfigException, OSError) as exc:
        first = exc
    if context is None:
        try:
            cfg = client.Configuration()
            config.load_incluster_config(client_configuration=cfg)
            return client.ApiClient(cfg)
        except ConfigException:
            pass
    raise ImageBuildError(f"no Kubernetes credentials for the kaniko builder: {first}",
                          fix="give the job a kubeconfig (KUBECONFIG) for the cluster, or run it inside the cluster "
                              "with a service account", exit_code=2)


@dataclass
class _Pending:
    spec: ImageSpec
    job: str
    destination: str
    record_key: str | None
    inputs_ref: str | None


@dataclass
class _Failure:
    image: str
    message: str
    log: str | None = None
    log_title: str = "last lines of the builder's log"


class KanikoBuilder:
    """Builds each image in a Kaniko Job; see the module docstring."""

    kind = "kaniko"

    def __init__(self, settings: KanikoSettings, *, base_dir: Path | None = None, source: GitSource | None = None,
                 repo_root: Path | None = None, api_client: Any = None, env: Mapping[str, str] | None = None,
                 progress: Callable[[str], None] | None = None, poll_seconds: float = 5.0,
                 wait_grace_seconds: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.base_dir = base_dir
        self.source = source
        self.repo_root = repo_root
        self._api_client = api_client
        self._env = env
        self.progress = progress or (lambda message: None)
        self.poll_seconds = poll_seconds
        self.wait_grace_seconds = wait_grace_seconds
        self._sleep, self._clock = sleep, clock

    @classmethod
    def from_config(cls, images_section: Mapping[str, Any], base_dir: Path) -> KanikoBuilder:
        return cls(settings_from_section(images_section), base_dir=base_dir)

    @property
    def env(self) -> Mapping[str, str]:
        return self._env if self._env is not None else os.environ

    # -- where the code comes from ---------------------------------------------------------------

    def _git_url(self, repo_root: Path) -> str:
        if self.settings.git_url:
            return self.settings.git_url
        server, repository = self.env.get("GITHUB_SERVER_URL"), self.env.get("GITHUB_REPOSITORY")
        if server and repository:
            return f"{server.rstrip('/')}/{repository}"
        out = subprocess.run(["git", "-C", str(repo_root), "remote", "get-url", "origin"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
        raise ImageBuildError("cannot tell where the cluster should clone this repository from (no origin remote)",
                              fix="set images.kaniko.git_url, e.g. https://github.com/acme/churn", exit_code=2)

    def _resolve_source(self, tag: str) -> tuple[GitSource, Path]:
        """The commit the Jobs build, checked against the tag the caller derived from it."""
        if tag.endswith("-dirty"):
            raise ImageBuildError("the kaniko builder builds from the commit in git, and the working tree has "
                                  "uncommitted changes that the image would silently lack",
                                  fix="commit and push the changes, then build again", exit_code=2)
        source, root = self.source, self.repo_root
        if source is None or root is None:
            base = self.base_dir or Path.cwd()
            commit = current_commit(base)
            if commit.sha is None:
                raise ImageBuildError(f"{base} is not in a git repository; the kaniko builder builds from git",
                                      fix="build from a clone of the repository, or use builder: docker", exit_code=2)
            if commit.dirty:
                raise ImageBuildError("the working tree has uncommitted changes; the kaniko builder builds from git",
                                      fix="commit and push the changes, then build again", exit_code=2)
            top = subprocess.run(["git", "-C", str(base), "rev-parse", "--show-toplevel"], capture_output=True,
                                 text=True, timeout=10).stdout.strip()
            root = Path(top or base)
            url = self._git_url(root)
            parsed = normalize_git_url(url)
            if parsed is None:
                raise ImageBuildError(f"cannot use {url!r} as a git context for Kaniko",
                                      fix="set images.kaniko.git_url to the repository's https URL", exit_code=2)
            source = replace(parsed, sha=commit.sha)
        if not tag.startswith(source.sha[:7]):
            raise ImageBuildError(f"asked to tag images {tag!r}, but the commit to build is {source.sha[:12]}",
                                  fix="build from the checked-out commit the tag names")
        return source, root

    # -- the cluster ------------------------------------------------------------------------------

    def _apis(self) -> tuple[Any, Any]:
        from kubernetes import client

        if self._api_client is None:
            self._api_client = default_api_client(self.settings.kube_context)
        return client.BatchV1Api(self._api_client), client.CoreV1Api(self._api_client)

    def _host(self) -> str | None:
        return getattr(getattr(self._api_client, "configuration", None), "host", None)

    def _read_records(self, core: Any) -> dict[str, str]:
        ns = self.settings.namespace
        try:
            return dict(core.read_namespaced_config_map(RECORDS_CONFIGMAP, ns).data or {})
        except Exception as exc:  # noqa: BLE001 - reuse is an optimisation; its failure must not stop builds
            if status_of(exc) != 404:
                self.progress(f"warning: cannot read ConfigMap {RECORDS_CONFIGMAP} in namespace {ns} "
                              f"({describe(exc)}): building every image")
            return {}

    def _write_record(self, core: Any, key: str, value: str) -> None:
        ns = self.settings.namespace
        body = {"data": {key: value}}
        try:
            try:
                core.patch_namespaced_config_map(RECORDS_CONFIGMAP, ns, body)
            except Exception as exc:  # noqa: BLE001
                if status_of(exc) != 404:
                    raise
                try:
                    core.create_namespaced_config_map(ns, {"metadata": {"name": RECORDS_CONFIGMAP, "labels": MANAGED_BY},
                                                           **body})
                except Exception as exc2:  # noqa: BLE001
                    if status_of(exc2) != 409:
                        raise
                    core.patch_namespaced_config_map(RECORDS_CONFIGMAP, ns, body)
        except Exception as exc:  # noqa: BLE001
            self.progress(f"warning: cannot record the build in ConfigMap {RECORDS_CONFIGMAP} ({describe(exc)}): "
                          "the next build will not reuse it")

    def _delete_job(self, batch: Any, name: str) -> None:
        try:
            batch.delete_namespaced_job(name, self.settings.namespace, propagation_policy="Background")
        except Exception as exc:  # noqa: BLE001 - best effort; the Job's deadline and TTL still apply
            if status_of(exc) != 404:
                self.progress(f"warning: could not delete Job {name} ({describe(exc)})")

    def _builder_pod(self, core: Any, job: str) -> Any | None:
        pods = core.list_namespaced_pod(self.settings.namespace, label_selector=f"job-name={job}").items
        if not pods:
            return None
        return sorted(pods, key=lambda p: p.metadata.creation_timestamp or 0)[-1]

    @staticmethod
    def _container_status(pod: Any) -> Any | None:
        for status in (pod.status.container_statuses or []) if pod is not None and pod.status else []:
            if status.name == CONTAINER:
                return status
        return None

    # -- outcomes ---------------------------------------------------------------------------------

    @staticmethod
    def _finished(job: Any) -> str | None:
        status = job.status
        if status is None:
            return None
        for condition in status.conditions or []:
            if condition.status == "True" and condition.type in ("Complete", "Failed"):
                return "succeeded" if condition.type == "Complete" else "failed"
        if (status.succeeded or 0) >= 1:
            return "succeeded"
        if (status.failed or 0) >= 1:
            return "failed"
        return None

    def _digest(self, core: Any, pending: _Pending) -> tuple[str | None, _Failure | None]:
        try:
            pod = self._builder_pod(core, pending.job)
        except Exception as exc:  # noqa: BLE001
            err = kube_error(exc, "list", "pods", self.settings.namespace, host=self._host())
            return None, _Failure(pending.spec.name, f"Job {pending.job} succeeded, but its digest cannot be read: "
                                                     f"{err.what}")
        state = self._container_status(pod)
        terminated = state.state.terminated if state is not None and state.state else None
        message = (terminated.message or "").strip() if terminated is not None else ""
        if DIGEST_RE.fullmatch(message):
            return message, None
        where = f"pod {pod.metadata.name}" if pod is not None else "no builder pod was found"
        return None, _Failure(pending.spec.name,
                              f"Job {pending.job} succeeded but reported no image digest ({where}; expected "
                              f"Kaniko's --digest-file in the termination message, got {message[:80]!r})")

    def _read_log(self, core: Any, pod: Any) -> tuple[str | None, str | None]:
        """(log tail, None) or (None, why it could not be read)."""
        try:
            text = core.read_namespaced_pod_log(pod.metadata.name, self.settings.namespace, container=CONTAINER,
                                                tail_lines=self.settings.log_lines, _request_timeout=30)
        except Exception as exc:  # noqa: BLE001 - the log is a courtesy; the failure itself is reported anyway
            return None, describe(exc)
        text = tail(text or "", self.settings.log_lines)
        return (text, None) if text else (None, "the log is empty")

    def _failure(self, core: Any, pending: _Pending, job: Any, *, timed_out: bool = False) -> _Failure:
        """Why a Job failed (or never finished), with the best log available."""
        name = pending.spec.name
        causes: list[str] = []
        if timed_out:
            causes.append(f"timed out after {self.settings.timeout_seconds:g} s; Job {pending.job} deleted")
        for condition in (job.status.conditions or []) if job is not None and job.status else []:
            if condition.type == "Failed" and condition.status == "True":
                reason = condition.reason or "Failed"
                text = f"Job {pending.job} failed: {reason}" + (f" ({condition.message})" if condition.message else "")
                if reason == "DeadlineExceeded":
                    text += f"; the build ran longer than images.timeout_seconds ({self.settings.timeout_seconds:g} s)"
                causes.append(text)
        if not causes:
            causes.append(f"Job {pending.job} failed")
        try:
            pod = self._builder_pod(core, pending.job)
        except Exception as exc:  # noqa: BLE001
            return _Failure(name, "; ".join(causes), f"(logs unavailable: cannot list the Job's pods: {describe(exc)})")
        if pod is None:
            return _Failure(name, "; ".join(causes + ["no builder pod was created (see `kubectl describe job`)"]))
        state = self._container_status(pod)
        terminated = state.state.terminated if state is not None and state.state else None
        waiting = state.state.waiting if state is not None and state.state else None
        if terminated is not None:
            causes.append(f"container {CONTAINER} exited with {terminated.exit_code}"
                          + (f" ({terminated.reason})" if terminated.reason else ""))
        elif waiting is not None:
            causes.append(f"container {CONTAINER} was waiting: {waiting.reason}"
                          + (f" ({waiting.message})" if waiting.message else ""))
        elif pod.status is not None and pod.status.phase:
            causes.append(f"pod {pod.metadata.name} was {pod.status.phase}")
        log, why_not = self._read_log(core, pod)
        if log:
            return _Failure(name, "; ".join(causes), log)
        message = (terminated.message or "").strip() if terminated is not None else ""
        if message and not message.startswith(DIGEST_PREFIX):
            return _Failure(name, "; ".join(causes), tail(message, self.settings.log_lines),
                            f"last lines of the builder's log (from its termination message; "
                            f"the pod log is unavailable: {why_not})")
        return _Failure(name, "; ".join(causes) + f"; logs unavailable ({why_not})")

    # -- the interface ----------------------------------------------------------------------------

    def _request(self, spec: ImageSpec, registry: str, tag: str, source: GitSource, root: Path,
                 build_id: str) -> tuple[JobRequest, str | None]:
        """The Job request for one image and its input hash (None when reuse is off)."""
        context = relative_to_repo(str(spec.context), str(root))
        dockerfile = relative_to_repo(str(spec.dockerfile), str(root))
        if context is None or dockerfile is None:
            raise ImageBuildError(f"image {spec.name}: context {spec.context} or Dockerfile {spec.dockerfile} is "
                                  f"outside the repository {root}", fix="keep build contexts inside the repository",
                                  exit_code=2)
        dockerfile_in_context = os.path.relpath(dockerfile, context or ".").replace(os.sep, "/")
        inputs = None
        if self.settings.reuse_unchanged:
            inputs = git_inputs(root, source.sha, context, dockerfile, spec.build_args)
        destinations = [spec.reference(registry, tag)]
        if inputs:
            destinations.append(spec.reference(registry, f"inputs-{inputs}"))
        return JobRequest(spec.name, tuple(destinations), context, dockerfile_in_context, dict(spec.build_args),
                          build_id, inputs), inputs

    def build(self, images: list[ImageSpec], registry: str, tag: str) -> list[BuiltImage]:
        """Build (or reuse) every image in its own Job; all results, or an ImageBuildError naming each failure."""
        if not images:
            return []
        source, root = self._resolve_source(tag)
        build_id = uuid.uuid4().hex[:12]
        requests = [(spec, *self._request(spec, registry, tag, source, root, build_id)) for spec in images]
        batch, core = self._apis()
        ns = self.settings.namespace
        results: dict[str, BuiltImage] = {}
        records = self._read_records(core) if self.settings.reuse_unchanged else {}
        pending: dict[str, _Pending] = {}
        try:
            for spec, request, inputs in requests:
                key = f"{spec.name}.{inputs}" if inputs else None
                reused = self._reused(spec, request, records.get(key) if key else None)
                if reused is not None:
                    results[spec.name] = reused
                    continue
                try:
                    created = batch.create_namespaced_job(ns, job_manifest(request, source, self.settings))
                except Exception as exc:  # noqa: BLE001
                    raise kube_error(exc, "create", "jobs.batch", ns, host=self._host()) from None
                name = created.metadata.name
                pending[name] = _Pending(spec, name, request.destinations[0], key,
                                         request.destinations[1] if len(request.destinations) > 1 else None)
                self.progress(f"{spec.name}: building {request.destinations[0]} in Job {name} (namespace {ns})")
            failures = self._wait(batch, core, pending, results, source, build_id)
        except BaseException:
            for name in list(pending):
                self._delete_job(batch, name)
            raise
        if failures:
            names = ", ".join(f.image for f in failures)
            what = f"{len(failures)} of {len(images)} image build(s) failed: {names}"
            if results:
                what += f" (done: {', '.join(results)})"
            raise ImageBuildError(what, [image_problem(f.image, f.message, f.log, log_title=f.log_title)
                                         for f in failures],
                                  fix=f"fix the cause above and build again; the Jobs are in namespace {ns} "
                                      f"(label {BUILD_LABEL}={build_id})")
        return [results[spec.name] for spec in images]

    def _reused(self, spec: ImageSpec, request: JobRequest, record: str | None) -> BuiltImage | None:
        """The recorded image for unchanged inputs, if the record is sound and for this registry."""
        if not record or len(request.destinations) < 2:
            return None
        try:
            data = json.loads(record)
        except ValueError:
            return None
        digest, reference = data.get("digest"), request.destinations[1]
        if not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest) or data.get("reference") != reference:
            return None
        self.progress(f"{spec.name}: inputs unchanged since commit {str(data.get('commit', '?'))[:12]}, "
                      f"reused {reference} ({digest})")
        return BuiltImage(spec.name, reference, digest)

    def _wait(self, batch: Any, core: Any, pending: dict[str, _Pending], results: dict[str, BuiltImage],
              source: GitSource, build_id: str) -> list[_Failure]:
        """Follow the Jobs until each has finished or the deadline passed; fill `results`, return failures.

        Entries leave `pending` as they finish, so an interruption deletes only unfinished Jobs.
        """
        ns = self.settings.namespace
        failures: list[_Failure] = []
        if not pending:
            return failures
        selector = f"{BUILD_LABEL}={build_id}"
        deadline = self._clock() + self.settings.timeout_seconds + self.wait_grace_seconds
        while pending:
            try:
                jobs = {j.metadata.name: j for j in batch.list_namespaced_job(ns, label_selector=selector).items}
            except Exception as exc:  # noqa: BLE001
                raise kube_error(exc, "list", "jobs.batch", ns, host=self._host()) from None
            for name in list(pending):
                item = pending[name]
                job = jobs.get(name)
                if job is None:
                    failures.append(_Failure(item.spec.name, f"Job {name} disappeared before it finished "
                                                             "(deleted by someone else?)"))
                    del pending[name]
                    continue
                outcome = self._finished(job)
                if outcome == "succeeded":
                    digest, failure = self._digest(core, item)
                    if failure is not None:
                        failures.append(failure)
                    else:
                        assert digest is not None
                        results[item.spec.name] = BuiltImage(item.spec.name, item.destination, digest)
                        self.progress(f"{item.spec.name}: pushed {item.destination} ({digest})")
                        if item.record_key and item.inputs_ref:
                            self._write_record(core, item.record_key, json.dumps(
                                {"digest": digest, "reference": item.inputs_ref, "commit": source.sha, "job": name},
                                sort_keys=True))
                    del pending[name]
                elif outcome == "failed":
                    failures.append(self._failure(core, item, job))
                    del pending[name]
            if not pending:
                break
            if self._clock() >= deadline:
                for name in list(pending):
                    item = pending.pop(name)
                    failure = self._failure(core, item, jobs.get(name), timed_out=True)
                    self._delete_job(batch, name)
                    failures.append(failure)
                break
            self._sleep(self.poll_seconds)
        return failures
