"""The kaniko builder against a real kube-apiserver (no controllers, no kubelet).

The test plays the Job controller and the kubelet: a thread watches for the builder's Jobs,
creates each Job's pod from its template, writes the pod's terminated state (the termination
message Kaniko's --digest-file fills) through the pod status subresource, then the Job's
Complete or Failed condition through the Job status subresource. What the builder wrote is read
back from the server, so the manifest is checked as Kubernetes stored it.

No kubelet runs, so `read_namespaced_pod_log` fails here as it does when a node is gone: the
builder must say so and fall back to the termination message.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from kfops_action.errors import ConfigError
from kfops_action.images.builder import ImageSpec, image_specs, select_builder
from kfops_action.images.errors import ImageBuildError
from kfops_action.images.inputs import git_inputs
from kfops_action.images.kaniko import RECORDS_CONFIGMAP, KanikoBuilder, settings_from_section
from kfops_action.images.kaniko_job import GitSource, KanikoSettings, normalize_git_url

REGISTRY = "registry.example/acme"
GIT_URL = "git.example/acme/churn.git"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
NOW = "2024-05-01T12:00:00Z"


# -- a repository at a commit -----------------------------------------------------------------------


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                           "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    """A committed repository: `trainer` at docker/trainer with a .dockerignore, `serving` at the root."""
    root = tmp_path / "churn"
    (root / "docker" / "trainer").mkdir(parents=True)
    (root / "docker" / "trainer" / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY . /app\n")
    (root / "docker" / "trainer" / "train.py").write_text("print('train')\n")
    (root / "docker" / "trainer" / ".dockerignore").write_text("*.csv\n")
    (root / "docker" / "trainer" / "sample.csv").write_text("1,2\n")
    (root / "Dockerfile.serve").write_text("ARG PY\nFROM python:${PY}-slim\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root, git(root, "rev-parse", "HEAD")


def specs(root: Path) -> list[ImageSpec]:
    return image_specs({"build": [{"name": "trainer", "context": "docker/trainer"},
                                  {"name": "serving", "dockerfile": "Dockerfile.serve", "build_args": {"PY": "3.11"}}]},
                       root)


# -- the cluster side -------------------------------------------------------------------------------


@pytest.fixture
def namespace(kube_api: Any) -> Iterator[str]:
    from kubernetes import client

    name = f"builds-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube_api.api_client())
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@dataclass
class Outcome:
    """What the fake controller does with an image's Job."""

    kind: str  # succeed | fail | hang
    digest: str | None = None
    message: str = ""  # the termination message (Kaniko's digest file, or the log tail on failure)
    waiting: str | None = None  # for hang: the container's waiting reason


class FakeJobController(threading.Thread):
    """Plays the Job controller and the kubelet for the Jobs in one namespace."""

    def __init__(self, api_client: Any, namespace: str, outcomes: dict[str, Outcome]) -> None:
        super().__init__(daemon=True)
        from kubernetes import client

        self.api_client, self.namespace, self.outcomes = api_client, namespace, outcomes
        self.batch, self.core = client.BatchV1Api(api_client), client.CoreV1Api(api_client)
        self.stop = threading.Event()
        self.seen: set[str] = set()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                for job in self.batch.list_namespaced_job(self.namespace).items:
                    if job.metadata.name not in self.seen:
                        self.seen.add(job.metadata.name)
                        self.play(job)
            except BaseException as exc:  # noqa: BLE001 - surfaced by the test
                self.errors.append(exc)
                return
            self.stop.wait(0.05)

    def play(self, job: Any) -> None:
        outcome = self.outcomes[job.metadata.labels["kfops.dev/image"]]
        template = self.api_client.sanitize_for_serialization(job.spec.template)
        pod_name = f"{job.metadata.name}{uuid.uuid4().hex[:5]}"
        labels = {**template["metadata"]["labels"], "job-name": job.metadata.name,
                  "controller-uid": job.metadata.uid}
        self.core.create_namespaced_pod(self.namespace, {
            "metadata": {"name": pod_name, "labels": labels,
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job.metadata.name,
                                              "uid": job.metadata.uid, "controller": True}]},
            "spec": {**template["spec"], "nodeName": "node-1"}})
        container = template["spec"]["containers"][0]
        base = {"name": container["name"], "image": container["image"], "imageID": "", "restartCount": 0, "ready": False}
        if outcome.kind == "hang":
            state = {"waiting": {"reason": outcome.waiting or "ContainerCreating",
                                 "message": "Back-off pulling image" if outcome.waiting else ""}}
            phase = "Pending"
        else:
            code = 0 if outcome.kind == "succeed" else 1
            state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                    "message": outcome.digest if code == 0 else outcome.message,
                                    "startedAt": NOW, "finishedAt": NOW}}
            phase = "Succeeded" if code == 0 else "Failed"
        self.core.patch_namespaced_pod_status(pod_name, self.namespace, {
            "status": {"phase": phase, "containerStatuses": [{**base, "state": state}]}})
        if outcome.kind == "hang":
            return
        condition = ({"type": "Complete", "status": "True"} if outcome.kind == "succeed" else
                     {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                      "message": "Job has reached the specified backoff limit"})
        status: dict[str, Any] = {"startTime": NOW, "conditions": [{**condition, "lastProbeTime": NOW,
                                                                    "lastTransitionTime": NOW}]}
        status.update({"succeeded": 1, "completionTime": NOW} if outcome.kind == "succeed" else {"failed": 1})
        self.batch.patch_namespaced_job_status(job.metadata.name, self.namespace, {"status": status})


@pytest.fixture
def controller(kube_api: Any, namespace: str) -> Iterator[Any]:
    started: list[FakeJobController] = []

    def start(**outcomes: Outcome) -> FakeJobController:
        c = FakeJobController(kube_api.api_client(), namespace, outcomes)
        c.start()
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop.set()
        c.join(5)
        assert c.errors == [], c.errors


def settings(namespace: str, **changes: Any) -> KanikoSettings:
    base = KanikoSettings(namespace=namespace, image="kaniko.example/executor:v1.23.2", service_account="kaniko-builder",
                          registry_secret="registry-push", git_secret="git-read", cache=True,
                          resources={"requests": {"cpu": 1, "memory": "2Gi"}}, timeout_seconds=900)
    return replace(base, **changes)


def builder(kube_api: Any, repo: tuple[Path, str], namespace: str, *, token: str | None = None,
            progress: list[str] | None = None, **changes: Any) -> KanikoBuilder:
    root, sha = repo
    return KanikoBuilder(settings(namespace, **changes), source=GitSource(GIT_URL, sha), repo_root=root,
                         api_client=kube_api.api_client(token), poll_seconds=0.05, wait_grace_seconds=0,
                         progress=progress.append if progress is not None else None)


def jobs(kube_api: Any, namespace: str) -> list[Any]:
    from kubernetes import client

    return client.BatchV1Api(kube_api.api_client()).list_namespaced_job(namespace).items


# -- success ----------------------------------------------------------------------------------------


def test_builds_each_image_in_a_job_and_reads_the_digest(kube_api: Any, repo: tuple[Path, str], namespace: str,
                                                         controller: Any) -> None:
    root, sha = repo
    controller(trainer=Outcome("succeed", DIGEST_A), serving=Outcome("succeed", DIGEST_B))
    trainer, serving = specs(root)
    built = builder(kube_api, repo, namespace).build([trainer, serving], REGISTRY, sha[:7])

    assert [(b.name, b.reference, b.digest) for b in built] == [
        ("trainer", f"{REGISTRY}/trainer:{sha[:7]}", DIGEST_A), ("serving", f"{REGISTRY}/serving:{sha[:7]}", DIGEST_B)]
    stored = {j.metadata.labels["kfops.dev/image"]: kube_api.api_client().sanitize_for_serialization(j)
              for j in jobs(kube_api, namespace)}
    assert set(stored) == {"trainer", "serving"}
    job = stored["trainer"]
    h = git_inputs(root, sha, "docker/trainer", "docker/trainer/Dockerfile", {})
    build_id = job["metadata"]["labels"]["kfops.dev/build"]
    assert job["metadata"]["name"].startswith(f"kfops-build-trainer-{sha[:7]}-")
    assert len(job["metadata"]["name"]) <= 63
    assert job["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kfops", "app.kubernetes.io/component": "image-build",
                                         "kfops.dev/build": build_id, "kfops.dev/image": "trainer", "kfops.dev/commit": sha}
    assert job["metadata"]["annotations"] == {"kfops.dev/destination": f"{REGISTRY}/trainer:{sha[:7]}",
                                              "kfops.dev/git-context": f"git://{GIT_URL}#{sha}",
                                              "kfops.dev/inputs-hash": h}
    spec = job["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 900
    # TTLAfterFinished is alpha (off) in v1.20: the server drops the field; newer clusters keep it.
    assert spec.get("ttlSecondsAfterFinished") in (None, 3600)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "kaniko-builder"
    assert pod["volumes"] == [{"name": "registry-credentials", "secret": {
        "secretName": "registry-push", "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
        "defaultMode": 420}}]
    [container] = pod["containers"]
    assert container["name"] == "kaniko"
    assert container["image"] == "kaniko.example/executor:v1.23.2"
    assert container["args"] == [
        f"--context=git://{GIT_URL}#{sha}",
        "--context-sub-path=docker/trainer",
        "--dockerfile=Dockerfile",
        f"--destination={REGISTRY}/trainer:{sha[:7]}",
        f"--destination={REGISTRY}/trainer:inputs-{h}",
        "--digest-file=/dev/termination-log",
        "--cache=true"]
    assert container["volumeMounts"] == [{"name": "registry-credentials", "mountPath": "/kaniko/.docker", "readOnly": True}]
    assert container["env"] == [
        {"name": "GIT_USERNAME", "valueFrom": {"secretKeyRef": {"name": "git-read", "key": "username"}}},
        {"name": "GIT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "git-read", "key": "password"}}}]
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}}
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    serving_args = stored["serving"]["spec"]["template"]["spec"]["containers"][0]["args"]
    hs = git_inputs(root, sha, "", "Dockerfile.serve", {"PY": "3.11"})
    assert serving_args == [f"--context=git://{GIT_URL}#{sha}", "--dockerfile=Dockerfile.serve",
                            f"--destination={REGISTRY}/serving:{sha[:7]}", f"--destination={REGISTRY}/serving:inputs-{hs}",
                            "--digest-file=/dev/termination-log", "--build-arg=PY=3.11", "--cache=true"]


def test_unchanged_inputs_are_not_rebuilt(kube_api: Any, repo: tuple[Path, str], namespace: str,
                                          controller: Any) -> None:
    from kubernetes import client

    root, sha = repo
    controller(trainer=Outcome("succeed", DIGEST_A), serving=Outcome("succeed", DIGEST_B))
    trainer, serving = specs(root)
    builder(kube_api, repo, namespace).build([trainer], REGISTRY, sha[:7])
    record = client.CoreV1Api(kube_api.api_client()).read_namespaced_config_map(RECORDS_CONFIGMAP, namespace)
    h = git_inputs(root, sha, "docker/trainer", "docker/trainer/Dockerfile", {})
    assert json.loads(record.data[f"trainer.{h}"])["digest"] == DIGEST_A

    # a later commit that changes only what the trainer's .dockerignore drops, and the serving image
    (root / "docker" / "trainer" / "sample.csv").write_text("3,4\n")
    (root / "Dockerfile.serve").write_text("ARG PY\nFROM python:${PY}-alpine\n")
    git(root, "commit", "-q", "-am", "data and serving")
    sha2 = git(root, "rev-parse", "HEAD")
    progress: list[str] = []
    built = builder(kube_api, (root, sha2), namespace, progress=progress).build([trainer, serving], REGISTRY, sha2[:7])

    assert [(b.name, b.reference, b.digest) for b in built] == [
        ("trainer", f"{REGISTRY}/trainer:inputs-{h}", DIGEST_A), ("serving", f"{REGISTRY}/serving:{sha2[:7]}", DIGEST_B)]
    assert sorted(j.metadata.labels["kfops.dev/image"] for j in jobs(kube_api, namespace)) == ["serving", "trainer"]
    assert any(p.startswith(f"trainer: inputs unchanged since commit {sha[:12]}") for p in progress)


# -- failures ---------------------------------------------------------------------------------------


def test_a_failed_build_shows_the_cause_and_the_log_tail_from_the_termination_message(
        kube_api: Any, repo: tuple[Path, str], namespace: str, controller: Any) -> None:
    root, sha = repo
    log = "\n".join(f"INFO step {i}" for i in range(60)) + "\nerror building image: RUN pip install: exit status 1"
    controller(trainer=Outcome("fail", message=log), serving=Outcome("succeed", DIGEST_B))
    with pytest.raises(ImageBuildError) as info:
        builder(kube_api, repo, namespace, log_lines=5).build(specs(root), REGISTRY, sha[:7])
    err = info.value
    assert err.what == "1 of 2 image build(s) failed: trainer (done: serving)"
    [problem] = err.problems
    assert problem.where == "image trainer"
    first, *rest = problem.message.splitlines()
    assert first.startswith("Job kfops-build-trainer-")
    assert "failed: BackoffLimitExceeded (Job has reached the specified backoff limit)" in first
    assert first.endswith("container kaniko exited with 1 (Error)")
    assert rest[0].startswith("  last lines of the builder's log (from its termination message; "
                              "the pod log is unavailable: ")
    assert rest[1:] == ["    INFO step 56", "    INFO step 57", "    INFO step 58", "    INFO step 59",
                        "    error building image: RUN pip install: exit status 1"]
    assert "label kfops.dev/build=" in (err.fix or "")


def test_a_readable_pod_log_is_preferred(kube_api: Any, repo: tuple[Path, str], namespace: str, controller: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes import client

    calls: list[dict[str, Any]] = []

    def read_log(self: Any, name: str, namespace: str, **kwargs: Any) -> str:
        calls.append({"name": name, **kwargs})
        return "step 1\nerror: COPY failed: no such file\n"

    monkeypatch.setattr(client.CoreV1Api, "read_namespaced_pod_log", read_log)
    root, sha = repo
    controller(trainer=Outcome("fail", message="older text"))
    with pytest.raises(ImageBuildError) as info:
        builder(kube_api, repo, namespace).build(specs(root)[:1], REGISTRY, sha[:7])
    assert info.value.problems[0].message.endswith(
        "  last lines of the builder's log:\n    step 1\n    error: COPY failed: no such file")
    assert calls[0]["container"] == "kaniko" and calls[0]["tail_lines"] == 40


def test_without_log_or_message_the_error_says_logs_are_unavailable(kube_api: Any, repo: tuple[Path, str],
                                                                    namespace: str, controller: Any) -> None:
    root, sha = repo
    controller(trainer=Outcome("fail", message=""))
    with pytest.raises(ImageBuildError) as info:
        builder(kube_api, repo, namespace).build(specs(root)[:1], REGISTRY, sha[:7])
    message = info.value.problems[0].message
    assert "; logs unavailable (" in message
    assert "\n" not in message


def test_a_job_that_succeeds_without_a_digest_is_an_error(kube_api: Any, repo: tuple[Path, str], namespace: str,
                                                          controller: Any) -> None:
    root, sha = repo
    controller(trainer=Outcome("succeed", digest="done"))
    with pytest.raises(ImageBuildError) as info:
        builder(kube_api, repo, namespace).build(specs(root)[:1], REGISTRY, sha[:7])
    assert "succeeded but reported no image digest" in info.value.problems[0].message


def test_a_build_that_never_finishes_times_out_and_its_job_is_deleted(kube_api: Any, repo: tuple[Path, str],
                                                                      namespace: str, controller: Any) -> None:
    root, sha = repo
    controller(trainer=Outcome("hang", waiting="ImagePullBackOff"))
    started = time.monotonic()
    with pytest.raises(ImageBuildError) as info:
        builder(kube_api, repo, namespace, timeout_seconds=1).build(specs(root)[:1], REGISTRY, sha[:7])
    assert time.monotonic() - started < 10
    message = info.value.problems[0].message
    assert message.startswith("timed out after 1 s; Job kfops-build-trainer-")
    assert "deleted; container kaniko was waiting: ImagePullBackOff (Back-off pulling image)" in message
    assert jobs(kube_api, namespace) == []


def test_an_interrupted_build_deletes_its_jobs(kube_api: Any, repo: tuple[Path, str], namespace: str,
                                               controller: Any) -> None:
    root, sha = repo
    controller(trainer=Outcome("hang"))
    b = builder(kube_api, repo, namespace)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    b._sleep = interrupt
    with pytest.raises(KeyboardInterrupt):
        b.build(specs(root)[:1], REGISTRY, sha[:7])
    assert jobs(kube_api, namespace) == []


def test_forbidden_is_a_clear_error_naming_verb_resource_namespace_and_fix(kube_api: Any, repo: tuple[Path, str],
                                                                           namespace: str) -> None:
    root, sha = repo
    progress: list[str] = []
    with pytest.raises(ImageBuildError) as info:
        builder(kube_api, repo, namespace, token=kube_api.limited_token, progress=progress).build(
            specs(root), REGISTRY, sha[:7])
    err = info.value
    assert err.status == 403
    assert err.what.startswith(f"Kubernetes refused to create jobs.batch in namespace {namespace} (403 Forbidden): ")
    assert 'cannot create resource "jobs" in API group "batch"' in err.what
    assert f"a Role in namespace {namespace}" in (err.fix or "") and "jobs.batch create, get, list, delete" in err.fix
    # reuse needs a ConfigMap the limited user cannot read either: a warning, not the error
    assert any(f"cannot read ConfigMap {RECORDS_CONFIGMAP} in namespace {namespace} (403" in p for p in progress)


def test_a_missing_namespace_says_so(kube_api: Any, repo: tuple[Path, str]) -> None:
    root, sha = repo
    with pytest.raises(ImageBuildError) as info:
        builder(kube_api, repo, "no-such-builds", reuse_unchanged=False).build(specs(root)[:1], REGISTRY, sha[:7])
    assert info.value.status == 404
    assert "create the namespace no-such-builds" in (info.value.fix or "")


# -- refused before anything is created ------------------------------------------------------------


def test_a_dirty_tree_is_refused_not_built_without_its_changes(repo: tuple[Path, str]) -> None:
    root, sha = repo
    b = KanikoBuilder(settings("x"), source=GitSource(GIT_URL, sha), repo_root=root, api_client=object())
    with pytest.raises(ImageBuildError, match="uncommitted changes"):
        b.build(specs(root), REGISTRY, sha[:7] + "-dirty")
    with pytest.raises(ImageBuildError, match="asked to tag images 'fffffff'"):
        b.build(specs(root), REGISTRY, "fffffff")


def test_the_commit_and_url_come_from_git_when_not_given(repo: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    root, sha = repo
    monkeypatch.delenv("GITHUB_SERVER_URL", raising=False)
    git(root, "remote", "add", "origin", "https://x-access-token:ghs_secret@github.com/acme/churn")
    b = KanikoBuilder.from_config({"kaniko": {"namespace": "ml-builds"}}, root)
    source, found_root = b._resolve_source(sha[:7])
    assert source == GitSource("github.com/acme/churn.git", sha)
    assert found_root.resolve() == root.resolve()
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/other")
    assert b._resolve_source(sha[:7])[0].url == "github.com/acme/other.git"
    (root / "Dockerfile.serve").write_text("changed")
    with pytest.raises(ImageBuildError, match="uncommitted changes"):
        b._resolve_source(sha[:7])


@pytest.mark.parametrize("url, expected", [
    ("https://github.com/acme/churn", GitSource("github.com/acme/churn.git", "")),
    ("https://user:token@github.com/acme/churn.git", GitSource("github.com/acme/churn.git", "")),
    ("git@github.com:acme/churn.git", GitSource("github.com/acme/churn.git", "")),
    ("ssh://git@gitlab.example:2222/group/sub/repo", GitSource("gitlab.example/group/sub/repo.git", "")),
    ("http://git.internal:8080/acme/churn", GitSource("git.internal:8080/acme/churn.git", "", "http")),
    ("not a url", None),
])
def test_git_urls_become_kaniko_contexts_without_credentials(url: str, expected: GitSource | None) -> None:
    assert normalize_git_url(url) == expected


def test_selected_from_config_and_namespace_is_required(repo: tuple[Path, str]) -> None:
    root, _ = repo
    section = {"builder": "kaniko", "registry": REGISTRY, "timeout_seconds": 120, "reuse_unchanged": False,
               "kaniko": {"namespace": "ml-builds", "registry_secret": "push", "cache": True,
                          "resources": {"limits": {"memory": "4Gi"}}},
               "build": [{"name": "trainer"}]}
    found, _ = select_builder(section, root)
    assert isinstance(found, KanikoBuilder)
    assert found.settings == KanikoSettings(namespace="ml-builds", registry_secret="push", cache=True,
                                            resources={"limits": {"memory": "4Gi"}}, timeout_seconds=120,
                                            reuse_unchanged=False)
    with pytest.raises(ConfigError, match="images.kaniko.namespace is not set"):
        settings_from_section({"builder": "kaniko"})


def test_an_unreachable_cluster_is_named(repo: tuple[Path, str]) -> None:
    import socket

    from kubernetes import client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    cfg = client.Configuration()
    cfg.host = f"https://127.0.0.1:{port}"
    cfg.retries = 0
    root, sha = repo
    b = KanikoBuilder(settings("ml-builds", reuse_unchanged=False), source=GitSource(GIT_URL, sha), repo_root=root,
                      api_client=client.ApiClient(cfg))
    with pytest.raises(ImageBuildError) as info:
        b.build(specs(root)[:1], REGISTRY, sha[:7])
    assert info.value.what.startswith(f"cannot reach the Kubernetes API at https://127.0.0.1:{port} to create "
                                      "jobs.batch in namespace ml-builds: ")


def test_job_names_are_valid_kubernetes_names_whatever_the_image_name() -> None:
    from kfops_action.images.kaniko_job import JobRequest, job_manifest

    request = JobRequest("my_model.v2" + "x" * 60, ("r/x:abc1234",), "", "Dockerfile", {}, "b1")
    name = job_manifest(request, GitSource(GIT_URL, "abc1234" + "0" * 33), settings("ns"))["metadata"]["generateName"]
    assert name.startswith("kfops-build-my-model.v2x")
    assert len(name) + 5 <= 63  # the server appends 5 characters
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?-", name)
