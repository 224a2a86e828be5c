"""Environments past production and staging: `/deploy to <env>` for any `deployment.<env>` of the
base branch's kfops.yaml (branch-deploy's `.deploy to <environment>`).

End to end through the action entry point (the authorize job, then the deploy job it routes to)
against the fake GitHub and the real kube-apiserver with KServe's CRD and a controller stand-in in
the environment's own namespace; then what the dispatcher answers to names the base branch does
not configure (a pull request's own kfops.yaml adds none), and the pure rules: who may deploy
where, what the schema says about bad names.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.action_flow import EXAMPLE, NUMBER
from fakes.deploy_fixtures import admin, endpoint, kserve, namespace  # noqa: F401
from fakes.deploy_world import ISVC, World, mlmd, world  # noqa: F401
from fakes.github_prism import github  # noqa: F401
from fakes.kserve_controller import FakeKServe

from kfops_action.chatops import dispatch as d
from kfops_action.chatops.authorize import Allowed, Denied, Policy, authorize, needed
from kfops_action.chatops.command import BadArguments, ParsedCommand, check_environment, parse
from kfops_action.chatops.queue import Ticket, environment_of, job_for
from kfops_action.config.validation import validate

QA_ISVC = f"{ISVC}-qa"
direct = pytest.mark.parametrize("github", ["direct"], indirect=True)


def last_reply(world: World) -> str:
    return world.pr.bot_comments()[-1]["body"]


def add_qa(world: World, namespace: str, **qa: Any) -> None:
    """`deployment.qa` on the base branch: its own namespace, service and template (the example's
    with a label that says which template rendered it)."""
    data = yaml.safe_load(world.base)
    data["deployment"]["qa"] = {**data["deployment"]["staging"], "namespace": namespace,
                                "inference_service": QA_ISVC, "template": "qa-service.yaml", **qa}
    del data["deployment"]["qa"]["label"]   # the default: Deployed-to-qa
    world.fake.add_file("kfops.yaml", yaml.safe_dump(data, sort_keys=False), ref="main")
    template = (EXAMPLE / "inference-service.yaml").read_text().replace(
        "app.kubernetes.io/part-of: kfops-quickstart", "app.kubernetes.io/part-of: kfops-quickstart\n    kfops-test/template: qa")
    world.fake.add_file("qa-service.yaml", template, ref="main")


def isvc_in(world: World, namespace: str, name: str) -> dict[str, Any] | None:
    from kfops_action.deploy.isvc import IsvcApi
    from kfops_action.deploy.kube import Kube

    return IsvcApi(Kube(world.kube_api.api_client())).get(namespace, name)


@pytest.fixture
def qa_namespace(admin: Any, endpoint: Any) -> Any:  # noqa: F811
    from kubernetes import client

    name = f"qa-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": name}})
    with FakeKServe(admin, name, url_for=endpoint.url_for) as controller:
        yield name
    assert controller.errors == []


@direct
def test_deploy_to_qa_through_the_action_entry_point(world: World, qa_namespace: str, tmp_path: Path) -> None:
    """Also the conversation docs/commands.md shows (block `environments-conversation`)."""
    import docs_capture
    from test_chatops_queue import authorize_job, heavy_job
    from test_docs import check_block

    urls = {world.fake_kfp.url: docs_capture.KFP, qa_namespace: "ml-qa", world.endpoint.base: "https://models.example.com"}

    def exchange(title: str, body: str, answer: str) -> str:
        shown = re.sub(r"\brun-[0-9a-f]{8}\b", "run-5f3a9c1e", docs_capture.normalise(answer, head=world.head, urls=urls))
        shown = re.sub(r"\| `\d+\.\d` \|", "| `0.1` |", shown)
        return f"#### {title}\n\n**@alice** commented:\n\n> {body}\n\n**kfops** answered:\n\n{docs_capture.quote(shown)}\n"

    add_qa(world, qa_namespace)
    world.seed_record()
    parts = []
    comment = world.fake.add_comment(NUMBER, "/deploy to qaa", user="alice")
    outputs, _ = authorize_job(world.pr, tmp_path, comment, 970)
    assert outputs["job"] == "none" and outputs["environment"] == ""   # refused: no deploy job, no Environment
    parts.append(exchange("a name the base branch does not configure", "/deploy to qaa", last_reply(world)))

    comment = world.fake.add_comment(NUMBER, "/deploy to qa", user="alice")   # write: qa is not production-like
    outputs, _ = authorize_job(world.pr, tmp_path, comment, 971)
    assert (outputs["job"], outputs["environment"]) == ("deploy", "qa")   # the deploy job's GitHub Environment
    assert "one deploy to `qa` at a time" in world.pr.status_of(comment)
    world.pr.last_comment = comment
    assert heavy_job(world.pr, tmp_path, comment, 971) == 0, world.body()
    parts.append(exchange("`/deploy to qa`", "/deploy to qa", world.body()))
    check_block("commands.md", "environments-conversation", "\n".join(parts))

    served = isvc_in(world, qa_namespace, QA_ISVC)
    assert served is not None and served["metadata"]["labels"]["kfops-test/template"] == "qa"
    assert world.isvc() is None and world.isvc(f"{ISVC}-staging") is None   # nothing else touched
    pull = world.fake.pulls[NUMBER]
    assert not pull.merged and pull.state == "open" and world.merges() == []   # qa does not merge
    assert "Deployed-to-qa" in pull.labels and "Deployed-to-production" not in pull.labels
    assert world.deployment_states("qa") == ["success", "in_progress"]
    [deployment] = [dep for dep in world.fake.deployments.values() if dep["environment"] == "qa"]
    assert deployment["production_environment"] is False
    assert "Merged" not in world.body()

    # /staging_deploy is still `/deploy to staging`: staging's service, its label, no merge.
    comment = world.fake.add_comment(NUMBER, "/staging_deploy", user="alice")
    outputs, _ = authorize_job(world.pr, tmp_path, comment, 972)
    assert (outputs["job"], outputs["environment"]) == ("deploy", "staging")
    world.pr.last_comment = comment
    assert heavy_job(world.pr, tmp_path, comment, 972) == 0, world.body()
    assert world.isvc(f"{ISVC}-staging") is not None and "Deployed-to-staging" in world.fake.pulls[NUMBER].labels
    assert world.merges() == []


@direct
def test_unknown_environment_is_refused_with_the_list_and_a_did_you_mean(world: World, qa_namespace: str) -> None:
    add_qa(world, qa_namespace)
    world.seed_record()
    assert world.comment("/deploy to qaa", user="maria").outcome == d.BAD_ARGUMENTS
    reply = last_reply(world)
    assert "`qaa` is not an environment of kfops.yaml on `main` (its environments: production, staging, qa)" in reply
    assert "Did you mean `qa`?" in reply and "/deploy [to ENVIRONMENT]" in reply
    assert world.comment("/rollback prod", user="maria").outcome == d.BAD_ARGUMENTS
    assert "Did you mean `production`?" in last_reply(world)
    assert world.comment("/deploy to QA!", user="maria").outcome == d.BAD_ARGUMENTS
    assert "is not an environment name" in last_reply(world)
    assert isvc_in(world, qa_namespace, QA_ISVC) is None and world.isvc() is None


@direct
def test_an_environment_from_the_pull_requests_kfops_yaml_is_ignored(world: World, qa_namespace: str) -> None:
    """Only the base branch names environments: a PR cannot add one, nor its namespace."""
    data = yaml.safe_load(world.base)
    data["deployment"]["preview"] = {**data["deployment"]["staging"], "namespace": qa_namespace,
                                     "inference_service": "evil"}
    (world.pr.checkout / "kfops.yaml").write_text(yaml.safe_dump(data))
    world.seed_record()
    assert world.comment("/deploy to preview", user="maria").outcome == d.BAD_ARGUMENTS
    assert "`preview` is not an environment of kfops.yaml on `main`" in last_reply(world)
    assert isvc_in(world, qa_namespace, "evil") is None


# -- the rules, pure ----------------------------------------------------------------------------------

BASE = {"deployment": {
    "production": {"namespace": "p", "inference_service": "m"},
    "staging": {"namespace": "s", "inference_service": "m"},
    "qa": {"namespace": "q", "inference_service": "m"},
    "eu-prod": {"namespace": "e", "inference_service": "m", "production": True},
    "demo": {"namespace": "d", "inference_service": "m", "permission": "admin"},
    "gates": {"require_staging": True}}}


def command(text: str) -> ParsedCommand:
    parsed = parse(text)
    assert isinstance(parsed, ParsedCommand), parsed
    return parsed


def test_the_forms_of_deploy_and_what_they_target() -> None:
    assert command("/deploy").target == "production"
    assert command("/deploy to qa --dry-run").target == "qa" and command("/deploy qa").target == "qa"
    assert command("/staging_deploy").target == "staging"
    assert command("/deploy to staging").display() == "/deploy staging"
    assert isinstance(parse("/deploy to"), BadArguments)
    assert isinstance(parse("/staging_deploy qa"), BadArguments)   # the alias names its environment itself


def test_commands_are_held_to_the_base_branchs_environments() -> None:
    policy = Policy.from_config(BASE, "kfops.yaml on `main`")
    assert list(policy.environments) == ["production", "staging", "qa", "eu-prod", "demo"]   # not gates
    envs = policy.production_like
    checked = check_environment(command("/lock qa release week"), envs, "kfops.yaml")
    assert isinstance(checked, ParsedCommand) and (checked.target, checked.reason) == ("qa", "release week")
    checked = check_environment(command("/lock freezing everything"), envs, "kfops.yaml")
    assert isinstance(checked, ParsedCommand) and (checked.target, checked.reason) == ("production", "freezing everything")
    assert isinstance(check_environment(command("/unlock eu-prod"), envs, "kfops.yaml"), ParsedCommand)
    refused = check_environment(command("/undeploy eu-prod"), envs, "kfops.yaml")
    assert isinstance(refused, BadArguments) and "does not remove a production environment" in refused.problem
    assert isinstance(check_environment(command("/undeploy qa"), envs, "kfops.yaml"), ParsedCommand)
    # production and staging stay accepted without configuration: the handlers explain what is missing
    assert isinstance(check_environment(command("/staging_deploy"), {}, "the defaults"), ParsedCommand)


@pytest.mark.parametrize(("text", "level", "allowed"), [
    ("/deploy to qa", "write", True), ("/deploy to qa", "triage", False),
    ("/deploy to eu-prod", "write", False), ("/deploy to eu-prod", "maintain", True),   # production-like
    ("/deploy to demo", "maintain", False), ("/deploy to demo", "admin", True),          # its own permission
    ("/deploy to staging", "write", True), ("/deploy", "write", False),
    ("/rollback qa", "write", True), ("/lock eu-prod", "write", False),
])
def test_who_may_deploy_where(text: str, level: str, allowed: bool) -> None:
    policy = Policy.from_config(BASE, "kfops.yaml")
    parsed = check_environment(command(text), policy.production_like, "kfops.yaml")
    assert isinstance(parsed, ParsedCommand)
    verdict = authorize(parsed.name, user="alice", level=level, policy=policy, fork=False, environment=parsed.target)
    assert isinstance(verdict, Allowed if allowed else Denied), verdict
    if not allowed and parsed.target not in ("production", None):
        assert f"for {parsed.target}" in verdict.reason   # /help and the logs say which environment
    assert needed("deploy", policy, "demo") == "admin (deployment.demo.permission)"


def test_the_queue_routes_and_names_the_environment() -> None:
    assert job_for("deploy") == job_for("staging_deploy") == "deploy"
    assert environment_of(command("/deploy to qa")) == "qa"
    assert environment_of(command("/lock --global")) == "production"
    ticket = Ticket.from_data({"kind": "queued", "comment_id": 1, "pr": 7, "command": "deploy", "environment": "qa"})
    assert ticket is not None and ticket.environment == "qa"
    with pytest.raises(ValueError):   # nothing but a checked name reaches the workflow's `environment:`
        environment_of(ParsedCommand("deploy", "deploy", environment="qa\nx: 1"))


@pytest.mark.parametrize(("name", "message"), [
    ("QA", "deployment.QA: unknown key 'QA'"),
    ("my_env", "deployment.my_env: unknown key 'my_env'"),
    ("to", "deployment.to: unknown key 'to'"),
])
def test_schema_explains_bad_environment_names(name: str, message: str) -> None:
    data = {"deployment": {name: {"namespace": "q", "inference_service": "m"}}}
    problems = [p.message for p in validate(data, lambda _: None, lambda _: None)
                if p.message.startswith("deployment.")]
    assert len(problems) == 1 and problems[0].startswith(message), problems
    assert "or an environment name: lower-case letters, digits and '-', starting with a letter" in problems[0]


def test_schema_accepts_named_environments_and_their_rules() -> None:
    data = {"deployment": {"qa": {"namespace": "q", "inference_service": "m", "merge": True, "production": False,
                                  "permission": "write", "required_approvals": 2},
                           "gates": {"allow_drafts": ["qa"]}}}
    assert [p for p in validate(data, lambda _: None, lambda _: None) if p.message.startswith("deployment")] == []
