"""The Kubernetes Job that builds one image with Kaniko: a pure function from facts to a manifest.

Kept apart from the code that talks to the cluster so that the manifest (what runs with which
credentials) can be read, and tested, on its own.

Source: Kaniko's git build context, `--context=git://<host>/<repo>.git#<full commit sha>`. With a
commit hash after the `#`, Kaniko (v1.7+) clones the repository, fetches that commit and checks
it out, so the image is built from exactly the pinned commit, whether or not a branch still
points at it (GitHub serves pull-request commits, fork PRs included, by hash). No init container
and no shared volume: the pod has one container. A sub-folder context is `--context-sub-path`,
and `--dockerfile` is relative to it. For a private repository, `images.kaniko.git_secret` names
a Secret with keys `username` and `password` (a token) that become GIT_USERNAME / GIT_PASSWORD.

Result: `--digest-file=/dev/termination-log`, Kaniko's documented way to hand the pushed digest
to Kubernetes: the kubelet copies the file into the container's
`status.containerStatuses[].state.terminated.message`, where kfops reads it. The policy
`FallbackToLogsOnError` makes that message the tail of the log when the build fails before
writing the file, so the cause survives even where the pod log can no longer be read.

Registry credentials: `images.kaniko.registry_secret`, mounted read-only as /kaniko/.docker/config.json,
the file Kaniko reads. Its key `images.kaniko.registry_secret_key` says which of the Secret's keys holds
the docker config: `.dockerconfigjson` in a `kubernetes.io/dockerconfigjson` Secret (`kubectl create
secret docker-registry ...`), or `config.json` in the Opaque Secret the original Kfops (and Kaniko's
own docs) mount whole at /kaniko/.docker. Only that key is mounted, under the name Kaniko reads: a
Secret volume cannot rename "whichever key exists", and reading the Secret to find out would need a
right (get secrets) the build identity must not have.

Lifetime: `backoffLimit: 0` (a failed build is reported, not retried into the same failure),
`activeDeadlineSeconds` (the cluster stops a stuck build even if kfops is gone),
`ttlSecondsAfterFinished` (finished Jobs clean themselves up; a cluster without the TTL controller
ignores it).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LABEL_PREFIX = "kfops.dev"
BUILD_LABEL = f"{LABEL_PREFIX}/build"
IMAGE_LABEL = f"{LABEL_PREFIX}/image"
COMMIT_LABEL = f"{LABEL_PREFIX}/commit"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kfops", "app.kubernetes.io/component": "image-build"}
CONTAINER = "kaniko"
TERMINATION_LOG = "/dev/termination-log"
DEFAULT_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2"
DOCKER_CONFIG_DIR = "/kaniko/.docker"
DOCKERCONFIGJSON = ".dockerconfigjson"  # the key of a kubernetes.io/dockerconfigjson Secret
REGISTRY_SECRET_KEYS = (DOCKERCONFIGJSON, "config.json")


@dataclass(frozen=True)
class GitSource:
    """Where the cluster clones the code from, and which commit.

    `url` has no scheme and no credentials (`github.com/acme/churn.git`): Kaniko adds the scheme
    (https, or http with `GIT_PULL_METHOD=http`), and credentials come from a Secret, never from
    the Job spec.
    """

    url: str
    sha: str
    pull_method: str = "https"

    def context(self) -> str:
        return f"git://{self.url}#{self.sha}"


@dataclass(frozen=True)
class KanikoSettings:
    """`images.kaniko` plus the shared `images` settings (see the schema for each)."""

    namespace: str
    image: str = DEFAULT_IMAGE
    service_account: str | None = None
    registry_secret: str | None = None
    registry_secret_key: str = DOCKERCONFIGJSON  # which key of the Secret holds the docker config.json
    git_secret: str | None = None
    git_url: str | None = None
    kube_context: str | None = None
    cache: bool = False
    resources: Mapping[str, Any] = field(default_factory=dict)
    ttl_seconds_after_finished: int = 3600
    timeout_seconds: float = 3600.0
    log_lines: int = 40
    reuse_unchanged: bool = True


@dataclass(frozen=True)
class JobRequest:
    """One image to build: everything the manifest needs that is not a setting."""

    image: str  # images.build[].name
    destinations: tuple[str, ...]  # the commit tag first
    context_sub_path: str  # relative to the repository root; "" for the root
    dockerfile: str  # relative to the context
    build_args: Mapping[str, str]
    build_id: str  # ties the Jobs of one `build` call together
    inputs_hash: str | None = None


def kaniko_args(request: JobRequest, source: GitSource, settings: KanikoSettings) -> list[str]:
    args = [f"--context={source.context()}"]
    if request.context_sub_path:
        args.append(f"--context-sub-path={request.context_sub_path}")
    args.append(f"--dockerfile={request.dockerfile}")
    args += [f"--destination={d}" for d in request.destinations]
    args.append(f"--digest-file={TERMINATION_LOG}")
    args += [f"--build-arg={key}={request.build_args[key]}" for key in sorted(request.build_args)]
    if settings.cache:
        args.append("--cache=true")
    return args


def _job_name_prefix(image: str, sha: str) -> str:
    """`generateName` for the Job: readable, and short enough that the server's 5-character suffix
    keeps the name within 63 characters (it becomes the pods' `job-name` label)."""
    safe = re.sub(r"[^a-z0-9.-]", "-", image.lower())[:36].strip("-.")  # `_` is fine in images, not in names
    return f"kfops-build-{safe or 'image'}-{sha[:7]}-"


def job_manifest(request: JobRequest, source: GitSource, settings: KanikoSettings) -> dict[str, Any]:
    """The batch/v1 Job for one image (a plain dict, as the API server will store it)."""
    labels = {**MANAGED_BY, BUILD_LABEL: request.build_id, IMAGE_LABEL: request.image, COMMIT_LABEL: source.sha}
    annotations = {f"{LABEL_PREFIX}/destination": request.destinations[0],
                   f"{LABEL_PREFIX}/git-context": source.context()}
    if request.inputs_hash:
        annotations[f"{LABEL_PREFIX}/inputs-hash"] = request.inputs_hash
    env: list[dict[str, Any]] = []
    if source.pull_method != "https":
        env.append({"name": "GIT_PULL_METHOD", "value": source.pull_method})
    if settings.git_secret:
        env += [{"name": "GIT_USERNAME", "valueFrom": {"secretKeyRef": {"name": settings.git_secret, "key": "username"}}},
                {"name": "GIT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": settings.git_secret, "key": "password"}}}]
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": settings.image,
        "args": kaniko_args(request, source, settings),
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if env:
        container["env"] = env
    if settings.resources:
        # quantities as strings: `cpu: 1` in YAML is a number, the API's canonical form a string
        container["resources"] = {k: {name: str(q) for name, q in v.items()} for k, v in settings.resources.items()}
    # The build runs the PR's Dockerfile: it gets no Kubernetes API token. Kaniko pushes with the
    # mounted registry credentials (cloud workload identity does not use this token either).
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "automountServiceAccountToken": False,
                                "containers": [container]}
    if settings.registry_secret:
        container["volumeMounts"] = [{"name": "registry-credentials", "mountPath": DOCKER_CONFIG_DIR,
                                      "readOnly": True}]
        pod_spec["volumes"] = [{"name": "registry-credentials", "secret": {
            "secretName": settings.registry_secret,
            "items": [{"key": settings.registry_secret_key, "path": "config.json"}]}}]
    if settings.service_account:
        pod_spec["serviceAccountName"] = settings.service_account
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"generateName": _job_name_prefix(request.image, source.sha), "namespace": settings.namespace,
                     "labels": labels, "annotations": annotations},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(1, int(settings.timeout_seconds)),
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod_spec},
        },
    }


def normalize_git_url(url: str) -> GitSource | None:
    """`https://github.com/a/b`, `git@github.com:a/b.git`, `ssh://git@host/a/b` -> host/a/b.git,
    with any credentials dropped. Returns a GitSource with an empty sha (the caller fills it)."""
    url = url.strip()
    pull = "https"
    if "://" in url:
        scheme, rest = url.split("://", 1)
        if scheme == "http":
            pull = "http"
        host, _, path = rest.partition("/")
        host = host.rsplit("@", 1)[-1]
        if scheme in ("ssh", "git+ssh"):
            host = host.split(":", 1)[0]  # an ssh port says nothing about the https one
    elif ":" in url and "@" in url.split(":", 1)[0]:  # scp-like git@host:owner/repo
        userhost, path = url.split(":", 1)
        host = userhost.rsplit("@", 1)[-1]
    else:
        host, _, path = url.partition("/")
    path = posixpath.normpath(path.strip("/")) if path else ""
    if not host or not path or path == ".":
        return None
    if not path.endswith(".git"):
        path += ".git"
    return GitSource(f"{host}/{path}", "", pull)


def relative_to_repo(path: str, repo_root: str) -> str | None:
    """`path` relative to the repository root ("" for the root), or None when it is outside."""
    rel = os.path.relpath(os.path.realpath(path), os.path.realpath(repo_root))
    if rel == ".":
        return ""
    if rel.startswith(".."):
        return None
    return rel.replace(os.sep, "/")
