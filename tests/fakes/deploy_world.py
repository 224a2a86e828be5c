"""One pull request and the deploy side around it, for the tests that drive /deploy from a comment
(tests/test_chatops_deploy.py, tests/test_security_state.py).

The real dispatcher and handlers; the fake GitHub (directly or behind Prism); the real
kube-apiserver with KServe's CRD and a controller stand-in; the fake KFP; a grpc-web ML Metadata
fake. A test module imports `World`, the `world` and `mlmd` fixtures, and the fixtures they need
(deploy_fixtures.py, github_prism.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FAKE_TOKEN
from fakes.action_flow import EXAMPLE, NUMBER, PullRequest, make_checkout
from fakes.deploy_fixtures import fast_timeouts
from fakes.github_prism import GitHubEndpoint
from fakes.mlmd_fake import FakeMlmd
from fakes.model_endpoint import ModelEndpoint

from kfops_action.chatops import dispatch as d
from kfops_action.chatops.runs import RunRecord

ISVC = "quickstart-classifier"
PIPELINE = "quickstart-classifier"   # pipeline.name of the example
EXPERIMENT = "quickstart"            # pipeline.experiment of the example
SPEC_HASH = "5eed0000c0de"           # seeded versions: any clean `<sha7>-<spec hash>` name


@pytest.fixture(scope="module")
def mlmd() -> Iterator[FakeMlmd]:
    with FakeMlmd(token=FAKE_TOKEN) as fake:
        yield fake


def base_config(kfp_url: str, namespace: str, mlmd_url: str, *, gate: bool = True, **production: Any) -> str:
    """The example's kfops.yaml on `main`: the fakes' URLs, the test namespace, fast timeouts."""
    data = yaml.safe_load((EXAMPLE / "kfops.yaml").read_text())
    data["kubeflow"]["endpoint"] = kfp_url
    data["metrics"]["mlmd_endpoint"] = mlmd_url
    data["metrics"]["gate"] = gate
    for env in ("production", "staging"):
        section = data["deployment"][env]
        section["namespace"] = namespace
        section["timeouts"] = {"ready": 5, "promote": 5, "rollback": 5, "poll": 0.05}
        section["endpoint_check"].update(retries=1, request_timeout=2)
    data["deployment"]["production"].update(production)
    return yaml.safe_dump(data, sort_keys=False)


class World:
    """One PR (#7) whose head is a git checkout of the example, and the deploy side around it."""

    def __init__(self, github: GitHubEndpoint, fake_kfp: Any, kube_api: Any, namespace: str,
                 mlmd: FakeMlmd, endpoint: ModelEndpoint, tmp_path: Path, **config: Any) -> None:
        self.namespace, self.mlmd, self.endpoint, self.kube_api = namespace, mlmd, endpoint, kube_api
        self.fake_kfp = fake_kfp
        checkout, head = make_checkout(tmp_path)
        self.base = base_config(fake_kfp.url, namespace, mlmd.url, **config)
        self.pr = PullRequest(github, fake_kfp.url, fake_kfp.token, checkout, head,
                              summary=tmp_path / "summary.md", base=self.base)
        self.fake, self.head = self.pr.fake, head
        for name in ("inference-service.yaml", "sample-request.json"):
            self.fake.add_file(name, (EXAMPLE / name).read_text(), ref="main")
        self.fake.set_permission("maria", "maintain")
        self.fake.add_review(NUMBER, "bob")  # production needs one approval of the head by default
        self.pr.env["KUBECONFIG"] = str(kube_api.kubeconfig)

    def comment(self, body: str, user: str = "maria") -> d.Outcome:
        return self.pr.comment(body, user=user)

    def seed_model(self, run_id: str, accuracy: float | None = 0.93) -> str:
        """The run's artifacts in ML Metadata; returns the model artifact's id."""
        tasks: list[dict[str, Any]] = [{"name": "train", "model": True}]
        if accuracy is not None:
            tasks.append({"name": "evaluate", "metrics": {"metrics": {"accuracy": accuracy}}})
        self.mlmd.store.seed({"runs": [{"run_id": run_id, "pipeline": "quickstart", "tasks": tasks}]})
        return str(max(i for i, a in self.mlmd.store.artifacts.items() if a.uri.endswith(f"/{run_id}/train/model")))

    def seed_kfp_run(self, run_id: str, *, sha: str, pr: int = NUMBER, state: str = "SUCCEEDED",
                     model: str | None = None) -> str:
        """The run in KFP, named and versioned as kfops names a run of pull request `pr` at `sha`;
        returns its display name."""
        name = f"{PIPELINE}-pr{pr}-{sha[:7]}-20250106-090000"
        self.fake_kfp.add_run(name, pipeline=PIPELINE, version=f"{sha[:7]}-{SPEC_HASH}", experiment=EXPERIMENT,
                              states=(state,), outputs={"train": {"model": [model]}} if model else {},
                              run_id=run_id)
        return name

    def seed_record(self, run_id: str | None = None, *, sha: str | None = None, state: str = "SUCCEEDED",
                    accuracy: float | None = 0.93, on: int = NUMBER) -> RunRecord:
        """A finished run of PR `on` as /build_run leaves it: in KFP, its artifacts in ML Metadata,
        and its provenance record in a status comment."""
        run_id, sha = run_id or f"run-{uuid.uuid4().hex[:8]}", sha or self.head
        model = self.seed_model(run_id, accuracy)
        name = self.seed_kfp_run(run_id, sha=sha, pr=on, state=state, model=model)
        record = RunRecord(key=str(900000 + len(self.fake.comments)), command="build_run", pr=on,
                           requested_by="alice", sha=sha, run_id=run_id, run_name=name,
                           run_url=f"{self.fake_kfp.url}/#/runs/details/{run_id}", state=state,
                           artifacts={"train": {"model": [model]}})
        self.pr.post_state(record.to_state(), on)
        return record

    def serve_in_production(self, accuracy: float = 0.90) -> str:
        """What production serves before the PR: an earlier deploy (revision 00001) of a run with
        this accuracy (a new run id each time: ML Metadata is shared by the module's tests)."""
        run_id = f"run-prod-{uuid.uuid4().hex[:8]}"
        from kfops_action.deploy import deploy
        from kfops_action.deploy.template import TemplateValues, load_manifest

        self.seed_model(run_id, accuracy)
        manifest = load_manifest("inference-service.yaml", EXAMPLE,
                                 TemplateValues(ISVC, self.namespace, f"s3://models/{run_id}/model", 10))
        deploy(self.kube_api.api_client(), environment="production",
               settings={"namespace": self.namespace, "inference_service": ISVC}, manifest=manifest,
               provenance={"pr": "kfops-org/model#3", "commit": "c" * 40, "run_id": run_id, "actor": "maria"},
               timeouts=fast_timeouts())
        return run_id

    # -- what GitHub and the cluster show -----------------------------------------------------------

    def body(self) -> str:
        return self.pr.status_of()

    def isvc(self, name: str = ISVC) -> dict[str, Any] | None:
        from kfops_action.deploy.isvc import IsvcApi
        from kfops_action.deploy.kube import Kube

        return IsvcApi(Kube(self.kube_api.api_client())).get(self.namespace, name)

    def deploy_statuses(self) -> list[str]:
        return [s["state"] for s in self.fake.statuses.get(self.head, []) if s["context"] == "kfops/deploy"]

    def deployment_states(self, environment: str = "production") -> list[str]:
        found = [i for i, dep in self.fake.deployments.items() if dep["environment"] == environment]
        return [s["state"] for i in found for s in self.fake.deployment_statuses.get(i, [])]

    def merges(self) -> list[Any]:
        return [r.body for r in self.fake.requests if r.method == "PUT" and r.path.endswith("/merge")]


@pytest.fixture
def world(github: GitHubEndpoint, fake_kfp: Any, kube_api: Any, namespace: str, kserve: Any,
          mlmd: FakeMlmd, endpoint: ModelEndpoint, tmp_path: Path) -> World:
    return World(github, fake_kfp, kube_api, namespace, mlmd, endpoint, tmp_path)
