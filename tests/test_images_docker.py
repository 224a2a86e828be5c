"""The docker builder against a recording `docker` executable on PATH (no engine here).

What is checked is what a runner's Docker would be asked to do: the exact command lines, that
builds overlap, that unchanged inputs are reused by tag instead of rebuilt, that the password goes
through stdin only, and how each failure reads.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from fakes.recording_docker import DIR_ENV, RecordingDocker

from kfops_action.config.validation import schema
from kfops_action.errors import ConfigError
from kfops_action.images.builder import ImageSpec, builder_classes, image_specs, select_builder
from kfops_action.images.docker import NO_DOCKER, DockerBuilder, DockerSettings, registry_host
from kfops_action.images.dockerignore import DockerIgnore
from kfops_action.images.errors import ImageBuildError
from kfops_action.images.inputs import worktree_inputs

REGISTRY = "registry.example/acme"
TAG = "abc1234"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
DIGEST_OLD = "sha256:" + "0" * 64
PASSWORD = "s3cret-registry-token-42"
CREDENTIAL_VARS = ("KFOPS_REGISTRY_USERNAME", "KFOPS_REGISTRY_PASSWORD", "KFOPS_REGISTRY_HOST", "INPUT_REGISTRY",
                   "INPUT_REGISTRY_USERNAME", "INPUT_REGISTRY_PASSWORD")


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RecordingDocker:
    """A recording `docker` first on PATH, and no registry credentials leaking in from outside."""
    recorder = RecordingDocker(tmp_path / "docker-state")
    recorder.install(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv(DIR_ENV, str(recorder.state))
    for name in CREDENTIAL_VARS:
        monkeypatch.delenv(name, raising=False)
    return recorder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Two images: `trainer` at the root with a .dockerignore, `serving` in a sub-folder with build args."""
    root = tmp_path / "model"
    (root / "data").mkdir(parents=True)
    (root / "serving").mkdir()
    (root / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY train.py /app/\n")
    (root / "train.py").write_text("print('train')\n")
    (root / ".dockerignore").write_text("# local only\ndata/\n*.tmp\n!keep.tmp\n")
    (root / "data" / "big.csv").write_text("1,2,3\n")
    (root / "scratch.tmp").write_text("x")
    (root / "keep.tmp").write_text("kept")
    (root / "serving" / "Dockerfile").write_text("ARG PY\nFROM python:${PY}-slim\nCOPY serve.py /app/\n")
    (root / "serving" / "serve.py").write_text("print('serve')\n")
    return root


def specs(project: Path) -> list[ImageSpec]:
    return image_specs({"build": [{"name": "trainer"},
                                  {"name": "serving", "context": "serving", "build_args": {"PY": 3.11, "A": "b c"}}]},
                       project)


def inputs_of(spec: ImageSpec, platform: str | None = None) -> str:
    return worktree_inputs(spec.context, spec.dockerfile, spec.build_args, {"platform": platform} if platform else {})


NOT_FOUND = {"when": ["imagetools", "inspect"], "exit": 1, "output": "ERROR: not found"}


def builds_ok() -> list[dict]:
    return [NOT_FOUND,
            {"when": ["buildx", "build", "/trainer:"], "digest": DIGEST_A},
            {"when": ["buildx", "build", "/serving:"], "digest": DIGEST_B}]


# -- what is built and how ------------------------------------------------------------------------


def test_builds_and_pushes_with_the_exact_command_lines(docker: RecordingDocker, project: Path) -> None:
    docker.rules(*builds_ok())
    trainer, serving = specs(project)
    built = DockerBuilder().build([trainer, serving], REGISTRY, TAG)

    assert [(b.name, b.reference, b.digest) for b in built] == [
        ("trainer", f"{REGISTRY}/trainer:{TAG}", DIGEST_A), ("serving", f"{REGISTRY}/serving:{TAG}", DIGEST_B)]
    argvs = docker.argvs()
    assert argvs[0] == ["buildx", "version"]
    assert not any(a[0] == "login" for a in argvs), "no credentials, no login"
    by_image = {name: [a for a in argvs[1:] if any(f"/{name}:" in x for x in a)] for name in ("trainer", "serving")}
    h = inputs_of(trainer)
    inspect, build = by_image["trainer"]
    assert inspect == ["buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}", f"{REGISTRY}/trainer:inputs-{h}"]
    metadata = build[build.index("--metadata-file") + 1]
    assert Path(metadata).name == "trainer.metadata.json"
    assert build == ["buildx", "build", "--push", "--progress=plain", "--file", str(project / "Dockerfile"),
                     "--tag", f"{REGISTRY}/trainer:{TAG}", "--tag", f"{REGISTRY}/trainer:inputs-{h}",
                     "--metadata-file", metadata, str(project)]
    _, build = by_image["serving"]
    hs = inputs_of(serving)
    assert build == ["buildx", "build", "--push", "--progress=plain", "--file", str(project / "serving" / "Dockerfile"),
                     "--tag", f"{REGISTRY}/serving:{TAG}", "--tag", f"{REGISTRY}/serving:inputs-{hs}",
                     "--build-arg", "A=b c", "--build-arg", "PY=3.11",
                     "--metadata-file", build[build.index("--metadata-file") + 1], str(project / "serving")]
    assert len(argvs) == 5


def test_platform_and_registry_cache_reach_the_command_and_the_hash(docker: RecordingDocker, project: Path) -> None:
    docker.rules(*builds_ok())
    trainer = specs(project)[0]
    DockerBuilder(DockerSettings(platform="linux/amd64,linux/arm64", cache="registry")).build([trainer], REGISTRY, TAG)
    build = docker.argvs()[-1]
    h = inputs_of(trainer, "linux/amd64,linux/arm64")
    assert h != inputs_of(trainer), "the platform is an input"
    assert f"{REGISTRY}/trainer:inputs-{h}" in build
    i = build.index("--platform")
    assert build[i:i + 6] == ["--platform", "linux/amd64,linux/arm64",
                              "--cache-from", f"type=registry,ref={REGISTRY}/trainer:buildcache",
                              "--cache-to", f"type=registry,ref={REGISTRY}/trainer:buildcache,mode=max"]


def test_reuse_off_builds_with_the_commit_tag_only_and_asks_nothing(docker: RecordingDocker, project: Path) -> None:
    docker.rules(*builds_ok())
    DockerBuilder(DockerSettings(reuse_unchanged=False)).build(specs(project)[:1], REGISTRY, TAG)
    build = docker.argvs()[-1]
    assert [a for a in docker.argvs() if "inspect" in a] == []
    assert [build[i + 1] for i, a in enumerate(build) if a == "--tag"] == [f"{REGISTRY}/trainer:{TAG}"]


@pytest.mark.parametrize("parallel, overlap", [(4, True), (1, False)])
def test_images_build_in_parallel_up_to_the_limit(docker: RecordingDocker, project: Path, parallel: int,
                                                  overlap: bool) -> None:
    docker.rules(NOT_FOUND,
                 {"when": ["buildx", "build", "/trainer:"], "digest": DIGEST_A, "sleep": 0.6},
                 {"when": ["buildx", "build", "/serving:"], "digest": DIGEST_B, "sleep": 0.6})
    DockerBuilder(DockerSettings(parallel=parallel)).build(specs(project), REGISTRY, TAG)
    builds = [c for c in docker.calls() if c["argv"][:2] == ["buildx", "build"]]
    assert len(builds) == 2
    first, second = sorted(builds, key=lambda c: c["start"])
    assert (second["start"] < first["end"]) is overlap


def test_unchanged_inputs_are_tagged_not_rebuilt(docker: RecordingDocker, project: Path) -> None:
    trainer, serving = specs(project)
    h = inputs_of(trainer)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "digest": DIGEST_OLD,
                "size": 856}
    docker.rules({"when": ["imagetools", "inspect", f"/trainer:inputs-{h}"], "output": json.dumps(manifest, indent=2)},
                 *builds_ok())
    progress: list[str] = []
    built = DockerBuilder(progress=progress.append).build([trainer, serving], REGISTRY, TAG)

    assert [(b.name, b.reference, b.digest) for b in built] == [
        ("trainer", f"{REGISTRY}/trainer:{TAG}", DIGEST_OLD), ("serving", f"{REGISTRY}/serving:{TAG}", DIGEST_B)]
    trainer_calls = [a for a in docker.argvs() if any("/trainer" in x for x in a)]
    assert trainer_calls[1] == ["buildx", "imagetools", "create", "--tag", f"{REGISTRY}/trainer:{TAG}",
                                f"{REGISTRY}/trainer@{DIGEST_OLD}"]
    assert len(trainer_calls) == 2, "no build for trainer"
    assert any("trainer: inputs unchanged" in p for p in progress)


def test_an_ignored_file_does_not_change_the_inputs_but_a_sent_one_does(project: Path) -> None:
    trainer = specs(project)[0]
    before = inputs_of(trainer)
    (project / "data" / "big.csv").write_text("changed")
    (project / "other.tmp").write_text("ignored")
    assert inputs_of(trainer) == before
    (project / "keep.tmp").write_text("re-included by !keep.tmp")
    after = inputs_of(trainer)
    assert after != before
    (project / "train.py").chmod(0o755)
    assert inputs_of(trainer) != after, "the executable bit reaches the image"
    args_changed = ImageSpec(trainer.name, trainer.context, trainer.dockerfile, {"X": "1"})
    assert inputs_of(args_changed) != inputs_of(trainer)


@pytest.mark.parametrize("patterns, path, excluded", [
    ("data/", "data/a/b.csv", True),
    ("data", "data", True),
    ("*.pyc", "pkg/x.pyc", False),  # `*` does not cross directories, as in Docker
    ("**/*.pyc", "pkg/x.pyc", True),
    ("**/*.pyc", "x.pyc", True),
    ("/build", "build/out", True),
    ("./build", "build/out", True),
    ("*\n!README.md", "README.md", False),
    ("*\n!README.md", "src/a.py", True),
    ("docs/**/*.md\n!docs/keep.md", "docs/keep.md", False),
    ("docs/**/*.md", "docs/x/y.md", True),
    ("fil?.txt", "file.txt", True),
    ("[a-c].txt", "b.txt", True),
    ("[!a-c].txt", "b.txt", False),
    ("# comment\n\n  ", "anything", False),
])
def test_dockerignore_patterns(patterns: str, path: str, excluded: bool) -> None:
    assert DockerIgnore(patterns).excluded(path) is excluded


# -- credentials --------------------------------------------------------------------------------------


def test_login_sends_the_password_on_stdin_only(docker: RecordingDocker, project: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFOPS_REGISTRY_USERNAME", "ci-bot")
    monkeypatch.setenv("KFOPS_REGISTRY_PASSWORD", PASSWORD)
    monkeypatch.setenv("KFOPS_REGISTRY_HOST", "registry.example")
    docker.rules(*builds_ok())
    DockerBuilder().build(specs(project)[:1], REGISTRY, TAG)
    calls = docker.calls()
    assert calls[1]["argv"] == ["login", "--username", "ci-bot", "--password-stdin", "registry.example"]
    assert calls[1]["stdin_bytes"] == len(PASSWORD)
    assert calls[1]["stdin_sha256"] == hashlib.sha256(PASSWORD.encode()).hexdigest()
    assert all(PASSWORD not in " ".join(c["argv"]) for c in calls)
    assert all(c["stdin_bytes"] == 0 for c in calls if c["argv"][0] != "login")
    assert [c["argv"][0] for c in calls].index("login") < [c["argv"][:2] for c in calls].index(["buildx", "build"])


def test_login_host_from_the_workflow_wins_over_the_config(docker: RecordingDocker, project: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A PR cannot redirect the credentials: the host comes from the environment when it is set."""
    monkeypatch.setenv("INPUT_REGISTRY_USERNAME", "ci-bot")
    monkeypatch.setenv("INPUT_REGISTRY_PASSWORD", PASSWORD)
    monkeypatch.setenv("INPUT_REGISTRY", "trusted.example")
    docker.rules(*builds_ok())
    DockerBuilder().build(specs(project)[:1], "evil.example/x", TAG)
    assert docker.argvs()[1] == ["login", "--username", "ci-bot", "--password-stdin", "trusted.example"]


def test_registry_host_follows_dockers_rule() -> None:
    assert registry_host("ghcr.io/acme/churn") == "ghcr.io"
    assert registry_host("localhost:5000/x") == "localhost:5000"
    assert registry_host("localhost/x") == "localhost"
    assert registry_host("acme/churn") is None  # Docker Hub


def test_login_failure_is_clear_and_never_shows_the_password(docker: RecordingDocker, project: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFOPS_REGISTRY_USERNAME", "ci-bot")
    monkeypatch.setenv("KFOPS_REGISTRY_PASSWORD", PASSWORD)
    monkeypatch.setenv("KFOPS_REGISTRY_HOST", "registry.example")
    docker.rules({"when": ["login"], "exit": 1,
                  "output": f"Error response from daemon: Get https://registry.example/v2/: unauthorized: "
                            f"bad credentials {PASSWORD}"}, *builds_ok())
    with pytest.raises(ImageBuildError) as info:
        DockerBuilder().build(specs(project), REGISTRY, TAG)
    text = str(info.value)
    assert info.value.what == "docker login to registry.example as ci-bot failed"
    assert "unauthorized: bad credentials ***" in text
    assert PASSWORD not in text
    assert "KFOPS_REGISTRY_PASSWORD" in text
    assert not any(a[:2] == ["buildx", "build"] for a in docker.argvs())


def test_half_the_credentials_is_a_config_error(docker: RecordingDocker, project: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFOPS_REGISTRY_USERNAME", "ci-bot")
    with pytest.raises(ConfigError, match="KFOPS_REGISTRY_PASSWORD is not set"):
        DockerBuilder().build(specs(project), REGISTRY, TAG)


# -- failures ---------------------------------------------------------------------------------------


def test_no_docker_on_the_runner(tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ImageBuildError) as info:
        DockerBuilder().build(specs(project), REGISTRY, TAG)
    assert NO_DOCKER in info.value.what
    assert "use builder: kaniko" in info.value.what
    assert info.value.exit_code == 2


def test_docker_without_buildx(docker: RecordingDocker, project: Path) -> None:
    docker.rules({"when": ["buildx", "version"], "exit": 1, "output": "docker: 'buildx' is not a docker command."})
    with pytest.raises(ImageBuildError) as info:
        DockerBuilder().build(specs(project), REGISTRY, TAG)
    assert "`docker buildx` does not work" in info.value.what
    assert "'buildx' is not a docker command" in str(info.value)


def test_a_failed_build_names_the_image_and_shows_the_end_of_its_log(docker: RecordingDocker, project: Path) -> None:
    log = "\n".join(f"#{i} step {i}" for i in range(1, 101)) + "\nERROR: failed to solve: process \"pip install\" exit 1"
    docker.rules(NOT_FOUND, {"when": ["buildx", "build", "/trainer:"], "exit": 1, "output": log},
                 {"when": ["buildx", "build", "/serving:"], "digest": DIGEST_B})
    with pytest.raises(ImageBuildError) as info:
        DockerBuilder(DockerSettings(log_lines=10)).build(specs(project), REGISTRY, TAG)
    err = info.value
    assert err.what == "1 of 2 image build(s) failed: trainer (done: serving)"
    [problem] = err.problems
    assert problem.where == "image trainer"
    assert problem.message.startswith("docker buildx build failed (exit 1)\n  last lines of the build log:\n")
    assert "    ERROR: failed to solve" in problem.message
    assert "#92 step 92" in problem.message and "#91 step 91" not in problem.message
    assert err.exit_code == 1


def test_a_build_that_reports_no_digest_is_an_error(docker: RecordingDocker, project: Path) -> None:
    docker.rules(NOT_FOUND, {"when": ["buildx", "build"], "output": "pushed, somehow"})
    with pytest.raises(ImageBuildError) as info:
        DockerBuilder().build(specs(project)[:1], REGISTRY, TAG)
    assert "reported no digest" in info.value.problems[0].message


def test_a_build_that_overruns_its_time_is_stopped(docker: RecordingDocker, project: Path) -> None:
    docker.rules(NOT_FOUND, {"when": ["buildx", "build"], "sleep": 5, "digest": DIGEST_A})
    with pytest.raises(ImageBuildError) as info:
        DockerBuilder(DockerSettings(timeout_seconds=0.5)).build(specs(project)[:1], REGISTRY, TAG)
    assert info.value.problems[0].message.startswith("docker buildx build timed out after 0.5 s")


def test_a_missing_dockerfile_is_reported_per_image(docker: RecordingDocker, project: Path) -> None:
    docker.rules(*builds_ok())
    (project / "serving" / "Dockerfile").unlink()
    with pytest.raises(ImageBuildError) as info:
        DockerBuilder().build(specs(project), REGISTRY, TAG)
    assert info.value.what == "1 of 2 image build(s) failed: serving (done: trainer)"
    assert "Dockerfile" in info.value.problems[0].message and "does not exist" in info.value.problems[0].message


# -- configuration ----------------------------------------------------------------------------------


def test_selected_from_config_with_its_settings(project: Path) -> None:
    section = {"builder": "docker", "registry": REGISTRY, "parallel": 2, "reuse_unchanged": False,
               "timeout_seconds": 600, "log_lines": 5, "docker": {"platform": "linux/amd64", "cache": "gha"},
               "build": [{"name": "trainer"}]}
    builder, found = select_builder(section, project)
    assert isinstance(builder, DockerBuilder)
    assert builder.settings == DockerSettings(platform="linux/amd64", cache="gha", parallel=2, reuse_unchanged=False,
                                              timeout_seconds=600, log_lines=5)
    assert [s.name for s in found] == ["trainer"]
    assert set(builder_classes()) == {"docker", "kaniko"}


def test_the_schema_accepts_the_builder_settings_and_refuses_secrets() -> None:
    from jsonschema import Draft202012Validator

    images = schema()["properties"]["images"]
    validator = Draft202012Validator(images)
    good = {"registry": REGISTRY, "builder": "kaniko", "parallel": 3, "reuse_unchanged": True, "timeout_seconds": 900,
            "log_lines": 20, "docker": {"platform": "linux/amd64", "cache": "registry"},
            "kaniko": {"namespace": "ml-builds", "image": "kaniko.example/executor:v1", "service_account": "builder",
                       "registry_secret": "push", "git_secret": "clone", "git_url": "https://github.com/acme/churn",
                       "cache": True, "ttl_seconds_after_finished": 600,
                       "resources": {"requests": {"cpu": 1, "memory": "2Gi"}, "limits": {"memory": "4Gi"}}},
            "build": [{"name": "trainer"}]}
    assert list(validator.iter_errors(good)) == []
    bad = {"docker": {"password": "x", "cache": "s3"}, "kaniko": {"namespace": "Bad_NS"}}
    messages = sorted(e.message for e in validator.iter_errors(bad))
    assert len(messages) == 3, messages
