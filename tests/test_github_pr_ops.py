"""Reactions, labels, merges, statuses, deployments, permissions: what the PR shows afterwards."""

from __future__ import annotations

import pytest
from fakes.github_prism import GitHubEndpoint, github, shared_fake, shared_prism  # noqa: F401

from kfops_action.errors import KfopsError
from kfops_action.github import merge as merge_mod
from kfops_action.github.client import GitHubError
from kfops_action.github.statuses import DEPLOY_CONTEXT, RUN_CONTEXT
from kfops_action.github.status_comment import OWN_MARKER

SHA = "a" * 40
PR = 7


def test_reaction_added_once_even_when_repeated(github: GitHubEndpoint) -> None:
    github.fake.add_pull(PR, head_sha=SHA)
    comment = github.fake.add_comment(PR, "/build_run")
    repo = github.repo()
    repo.add_reaction(comment, "eyes")
    repo.add_reaction(comment, "eyes")
    repo.add_reaction(comment, "rocket")
    assert [r["content"] for r in github.fake.reactions[comment]] == ["eyes", "rocket"]
    with pytest.raises(ValueError):
        repo.add_reaction(comment, "thumbs")


def test_permission_reads_role_name(github: GitHubEndpoint) -> None:
    github.fake.set_permission("mia", "maintain")
    github.fake.set_permission("tom", "triage")
    repo = github.repo()
    assert repo.get_permission("mia") == "maintain"
    assert repo.get_permission_fields("mia")["permission"] == "write"  # the legacy field hides maintain
    assert repo.get_permission("tom") == "triage"


def test_team_membership(github: GitHubEndpoint) -> None:
    github.fake.add_team_member("kfops-org", "ml-leads", "mia")
    repo = github.repo()
    assert repo.is_team_member("kfops-org", "ml-leads", "mia") is True
    assert repo.is_team_member("kfops-org", "ml-leads", "tom") is False


def test_custom_roles_fall_back_to_the_legacy_field_and_strangers_have_none(github: GitHubEndpoint) -> None:
    github.fake.set_permission("ivy", "ml-engineer")  # a custom role: its name says nothing comparable
    repo = github.repo()
    assert repo.get_permission("ivy") == "read"
    assert repo.get_permission("nobody-at-all") == "none"  # GitHub answers 404 for unknown users


def test_team_lookup_forbidden_says_which_token_can(github: GitHubEndpoint) -> None:
    github.fake.teams_forbidden = True
    with pytest.raises(GitHubError) as info:
        github.repo().is_team_member("kfops-org", "ml-leads", "mia")
    assert info.value.status == 403 and "read:org" in str(info.value.fix)


def test_file_on_a_branch_through_the_contents_api(github: GitHubEndpoint) -> None:
    text = "pipeline: {file: p.py, function: f}\n# caf\u00e9 \u2713\n" + "# padding\n" * 50
    github.fake.add_file("kfops.yaml", text, ref="main")
    github.fake.add_file("kfops.yaml", "other: 1\n", ref="release/2.0")
    repo = github.repo()
    assert repo.get_file_text("kfops.yaml", "main") == text
    assert repo.get_file_text("kfops.yaml", "release/2.0") == "other: 1\n"
    assert repo.get_file_text("kfops.yaml", "gone") is None  # not on that branch
    if github.via == "direct":
        # GitHub takes the path with its slashes (`x-multi-segment`), which Prism cannot route.
        github.fake.add_file("ml/kfops.yaml", "nested: 1\n", ref="main")
        assert repo.get_file_text("ml/kfops.yaml", "main") == "nested: 1\n"
    [request] = [r for r in github.fake.requests if r.path.endswith("/contents/kfops.yaml")][:1]
    assert request.query == {"ref": ["main"]}


def test_get_pull_gives_the_head_sha(github: GitHubEndpoint) -> None:
    github.fake.add_pull(PR, head_sha=SHA)
    pull = github.repo().get_pull(PR)
    assert pull["head"]["sha"] == SHA and pull["state"] == "open"


def test_post_comment_is_marked_scrubbed_and_split(github: GitHubEndpoint) -> None:
    github.fake.add_pull(PR, head_sha=SHA)
    repo = github.repo()
    repo.post_comment(PR, "refused: token ghs_kfopsTestToken0000111122223333444455 is wrong\n" + "x\n" * 40_000)
    bodies = github.fake.bodies(PR)
    assert len(bodies) == 2 and all(b.startswith(OWN_MARKER) and len(b) <= 65_536 for b in bodies)
    assert all(b.rstrip().endswith("-->") for b in bodies)  # each part's hidden reply key
    assert "ghs_kfops" not in "".join(bodies) and "token *** is wrong" in bodies[0]


@pytest.mark.parametrize("fault", ["502-after", "reset-after"])
def test_reply_is_not_duplicated_by_a_retry(github: GitHubEndpoint, fault: str) -> None:
    github.fake.add_pull(PR, head_sha=SHA)
    github.fake.inject("POST", r"/issues/7/comments$", fault)
    github.repo().post_comment(PR, "@mallory cannot run /deploy here.")
    bodies = github.fake.bodies(PR)
    assert len(bodies) == 1 and bodies[0].startswith(OWN_MARKER + "\n@mallory cannot run /deploy here.")


def test_label_created_when_missing_then_added(github: GitHubEndpoint) -> None:
    github.fake.add_pull(PR, head_sha=SHA)
    repo = github.repo()
    repo.ensure_label("Deployed-to-staging", color="#1d76db", description="kfops deployed this PR to staging")
    repo.ensure_label("Deployed-to-staging")  # already there: nothing created
    assert github.fake.count("POST", r"/labels$") == 1
    assert github.fake.labels["deployed-to-staging"]["color"] == "1d76db"
    assert repo.add_labels(PR, ["Deployed-to-staging"]) == ["Deployed-to-staging"]
    assert repo.remove_label(PR, "Deployed-to-staging") is True
    assert repo.remove_label(PR, "Deployed-to-staging") is False


def test_exclusive_label_moves_off_every_other_pr(github: GitHubEndpoint) -> None:
    fake = github.fake
    fake.add_pull(3, head_sha="3" * 40, labels=["Deployed-to-production"], state="closed")
    fake.add_pull(5, head_sha="5" * 40, labels=["Deployed-to-production", "ml"])
    fake.add_issue(6, labels=["Deployed-to-production"])  # an issue, not a PR: left alone
    fake.add_pull(PR, head_sha=SHA)
    moved = github.repo().move_exclusive_label("Deployed-to-production", PR)
    assert sorted(moved) == [3, 5]
    assert fake.pulls[PR].labels == ["Deployed-to-production"]
    assert fake.pulls[3].labels == [] and fake.pulls[5].labels == ["ml"]
    assert fake.pulls[6].labels == ["Deployed-to-production"]


def test_label_names_with_spaces_and_slashes(github: GitHubEndpoint) -> None:
    github.fake.add_pull(PR, head_sha=SHA)
    repo = github.repo()
    repo.ensure_label("kfops: deployed/prod")
    repo.add_labels(PR, ["kfops: deployed/prod"])
    assert repo.remove_label(PR, "kfops: deployed/prod") is True


def test_merge_with_the_pinned_sha(github: GitHubEndpoint) -> None:
    github.fake.add_pull(PR, head_sha=SHA)
    merged = github.repo().merge(PR, sha=SHA, title="Deploy #7")
    assert merged.method == "merge" and len(merged.sha) == 40
    assert github.fake.pulls[PR].merged
    sent = [r.body for r in github.fake.requests if r.method == "PUT"]
    assert sent == [{"sha": SHA, "merge_method": "merge", "commit_title": "Deploy #7"}]


def test_merge_whose_answer_was_lost_is_not_reported_as_a_failure(github: GitHubEndpoint) -> None:
    github.fake.add_pull(PR, head_sha=SHA)
    github.fake.inject("PUT", r"/merge$", "502-after")
    merged = github.repo().merge(PR, sha=SHA)
    assert merged.sha == github.fake.pulls[PR].merge_sha
    assert github.fake.count("PUT") == 1


def test_merge_after_the_head_moved_is_a_clear_refusal(github: GitHubEndpoint) -> None:
    github.fake.add_pull(PR, head_sha=SHA)
    github.fake.push(PR, "b" * 40)
    with pytest.raises(KfopsError) as raised:
        github.repo().merge(PR, sha=SHA)
    assert "head of #7 moved after the command" in str(raised.value)
    assert "comment the command again" in (raised.value.fix or "")
    assert not github.fake.pulls[PR].merged


def test_merge_method_from_what_the_repository_allows(github: GitHubEndpoint) -> None:
    github.fake.settings.update(allow_merge_commit=False, allow_squash_merge=True, allow_rebase_merge=False)
    github.fake.add_pull(PR, head_sha=SHA)
    assert github.repo().merge(PR, sha=SHA).method == "squash"


def test_configured_merge_method_not_allowed_is_a_config_error(github: GitHubEndpoint) -> None:
    github.fake.settings.update(allow_rebase_merge=False)
    github.fake.add_pull(PR, head_sha=SHA)
    with pytest.raises(KfopsError, match="rebase is not allowed"):
        github.repo().merge(PR, sha=SHA, method="rebase")
    assert github.fake.count("PUT") == 0


def test_merge_without_visible_settings_tries_methods_in_turn(github: GitHubEndpoint) -> None:
    github.fake.settings.update(show_merge_settings=False, allow_merge_commit=False, allow_squash_merge=False)
    github.fake.add_pull(PR, head_sha=SHA)
    assert github.repo().merge(PR, sha=SHA).method == "rebase"
    assert github.fake.count("PUT") == 3


def test_unmergeable_pr(github: GitHubEndpoint) -> None:
    github.fake.add_pull(PR, head_sha=SHA, mergeable=False)
    with pytest.raises(KfopsError, match="cannot be merged"):
        github.repo().merge(PR, sha=SHA)


def test_choose_methods_pure() -> None:
    repo = {"allow_merge_commit": False, "allow_squash_merge": True, "allow_rebase_merge": True}
    assert merge_mod.choose_methods(repo) == ["squash"]
    assert merge_mod.choose_methods(repo, ["merge", "rebase"]) == ["rebase"]
    assert merge_mod.choose_methods({}, "squash") == ["squash", "merge", "rebase"]
    with pytest.raises(KfopsError, match="unknown merge method"):
        merge_mod.choose_methods(repo, "fast-forward")


def test_close(github: GitHubEndpoint) -> None:
    github.fake.add_pull(PR, head_sha=SHA)
    github.repo().close(PR)
    assert github.fake.pulls[PR].state == "closed"


def test_commit_statuses_on_the_pinned_sha(github: GitHubEndpoint) -> None:
    github.fake.add_pull(PR, head_sha=SHA)
    repo = github.repo()
    repo.set_status(SHA, context=RUN_CONTEXT, state="pending", description="run started " + "x" * 200,
                    target_url="https://kubeflow.example.invalid/#/runs/details/r1")
    repo.set_status(SHA, context=RUN_CONTEXT, state="success", description="run succeeded in 12m")
    latest = github.fake.statuses[SHA][0]
    assert latest["context"] == RUN_CONTEXT and latest["state"] == "success"
    first = github.fake.statuses[SHA][1]
    assert len(first["description"]) == 140 and first["description"].endswith("…")
    with pytest.raises(ValueError):
        repo.set_status(SHA, context=DEPLOY_CONTEXT, state="done")


def test_deployment_with_status_and_url(github: GitHubEndpoint) -> None:
    repo = github.repo()
    first = repo.create_deployment(sha=SHA, environment="production", production=True, key="c-1")
    repo.set_deployment_status(first, state="success", environment_url="https://model.example.invalid/v1",
                               log_url="https://github.example.invalid/runs/1")
    second = repo.create_deployment(sha="b" * 40, environment="production", production=True, key="c-2")
    repo.set_deployment_status(second, state="success")
    fake = github.fake
    sent = next(r.body for r in fake.requests if r.method == "POST" and r.path.endswith("/deployments"))
    assert sent["auto_merge"] is False and sent["required_contexts"] == [] and sent["ref"] == SHA
    assert fake.deployment_statuses[first][0]["state"] == "inactive"  # auto_inactive
    assert fake.deployment_statuses[second][0]["state"] == "success"


def test_deployment_creation_is_not_duplicated_by_a_retry(github: GitHubEndpoint) -> None:
    github.fake.inject("POST", r"/deployments$", "502-after")
    repo = github.repo()
    deployment = repo.create_deployment(sha=SHA, environment="staging", key="comment-55")
    assert list(github.fake.deployments) == [deployment]


def test_rate_limited_label_move_finishes(github: GitHubEndpoint) -> None:
    github.fake.add_pull(5, head_sha="5" * 40, labels=["Deployed-to-production"])
    github.fake.add_pull(PR, head_sha=SHA)
    github.fake.inject("DELETE", r"/labels/", "403-secondary-retry-after", seconds=12)
    assert github.repo().move_exclusive_label("Deployed-to-production", PR) == [5]
    assert 12.0 in github.sleeps


@pytest.mark.infra
def test_prism_rejects_what_breaks_githubs_contract() -> None:
    """The harness itself: a request GitHub's description forbids is caught through Prism."""
    fake = shared_fake()
    fake.reset()
    endpoint = GitHubEndpoint(fake, "prism", shared_prism())
    fake.add_pull(PR, head_sha=SHA)
    comment = fake.add_comment(PR, "/build")
    with pytest.raises(GitHubError):
        endpoint.client().post(f"/repos/{fake.owner}/{fake.repo}/issues/comments/{comment}/reactions",
                               {"content": "thumbs-up"})
    assert len(endpoint.contract_errors) == 1 and "content" in endpoint.contract_errors[0]
    assert fake.reactions == {}  # refused before it reached the fake
    fake.reset()
