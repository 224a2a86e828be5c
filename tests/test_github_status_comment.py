"""One status comment per command, edited in place, that ends showing the final report exactly
once whatever GitHub does on the way: 5xx, resets, rate limits, a deleted comment, 422."""

from __future__ import annotations

import pytest
from fakes.fake_github import FakeGitHub
from fakes.github_prism import GITHUB_TOKEN, GitHubEndpoint, github  # noqa: F401

from kfops_action.github.client import GitHubError, RetryPolicy
from kfops_action.github.refs import Identity
from kfops_action.github.render import state_marker
from kfops_action.github.status_comment import OWN_MARKER, header, parse_header
from kfops_action.github.splitting import GITHUB_LIMIT

PR = 7
KEY = "1001"
COMMENTS = r"/issues/7/comments$"


def _setup(github: GitHubEndpoint, **options: object):  # type: ignore[no-untyped-def]
    github.fake.add_pull(PR, head_sha="a" * 40)
    repo = github.repo(**options.pop("client", {}))  # type: ignore[arg-type]
    return repo, repo.status_comment(PR, KEY, **options)


def _bot_comments(fake: FakeGitHub) -> list[dict]:
    return [c for c in fake.comments_on(PR) if c["_login"] == fake.bot_login]


def _final_text(fake: FakeGitHub) -> str:
    """What a reader sees: the bot's parts, headers removed, in part order."""
    parts = sorted(_bot_comments(fake), key=lambda c: parse_header(c["body"])[1])  # type: ignore[index]
    return "".join(c["body"].split("\n", 1)[1] for c in parts)


def test_created_once_then_edited_in_place(github: GitHubEndpoint) -> None:
    _, status = _setup(github)
    for state in ("building", "running", "succeeded"):
        assert status.update(f"### `/build_run` {state}\n", force=True)
    comments = _bot_comments(github.fake)
    assert len(comments) == 1
    assert comments[0]["body"] == header(KEY, 1, 1) + "### `/build_run` succeeded\n"
    assert comments[0]["body"].startswith(OWN_MARKER)
    assert github.fake.count("POST", COMMENTS) == 1
    assert github.fake.count("PATCH", r"/issues/comments/\d+$") == 2
    assert status.url and status.url.endswith(f"#issuecomment-{comments[0]['id']}")


def test_unchanged_and_too_frequent_updates_send_nothing(github: GitHubEndpoint) -> None:
    clock = [0.0]
    _, status = _setup(github, monotonic=lambda: clock[0], min_interval=10.0)
    assert status.update("running\n", force=True)
    assert not status.update("running\n", force=True)        # unchanged
    clock[0] = 2.0
    assert not status.update("running: task 1 done\n")        # progress, too soon: held
    before = len(github.fake.requests)
    assert status.flush()                                     # sent when asked
    assert len(github.fake.requests) == before + 1
    assert _final_text(github.fake) == "running: task 1 done\n"


def test_long_body_is_split_and_parts_shrink_back(github: GitHubEndpoint) -> None:
    _, status = _setup(github)
    log = "".join(f"{i:06d} step ok\n" for i in range(20_000))
    body = "### log\n\n<details><summary>Log</summary>\n\n```text\n" + log + "```\n\n</details>\n"
    status.update(body, force=True)
    comments = _bot_comments(github.fake)
    n = len(comments)
    assert n == 5  # 300,000 characters
    assert all(len(c["body"]) <= GITHUB_LIMIT for c in comments)
    assert [parse_header(c["body"]) for c in comments] == [(KEY, i, n) for i in range(1, n + 1)]
    assert _final_text(github.fake).replace("```\n</details>\n<details><summary>Log (continued)</summary>"
                                            "\n\n```text\n", "") == body
    status.update("### done\n", force=True)
    comments = _bot_comments(github.fake)
    assert [c["body"] for c in comments] == [header(KEY, 1, 1) + "### done\n"]


@pytest.mark.parametrize("fault", ["502-after", "reset-after", "502", "reset", "429", "403-secondary"])
def test_create_fault_still_leaves_exactly_one_comment(github: GitHubEndpoint, fault: str) -> None:
    _, status = _setup(github)
    github.fake.inject("POST", COMMENTS, fault)
    status.update("### building\n", force=True)
    status.update("### succeeded\n", force=True)
    comments = _bot_comments(github.fake)
    assert len(comments) == 1, [c["body"] for c in comments]
    assert comments[0]["body"].endswith("### succeeded\n")
    if fault in ("429", "403-secondary"):
        assert 60.0 in github.sleeps


@pytest.mark.parametrize("fault", ["502", "503", "reset", "429-retry-after"])
def test_edit_fault_is_retried(github: GitHubEndpoint, fault: str) -> None:
    _, status = _setup(github)
    status.update("### building\n", force=True)
    github.fake.inject("PATCH", r"/issues/comments/\d+$", fault, seconds=5)
    status.update("### succeeded\n", force=True)
    assert [c["body"] for c in _bot_comments(github.fake)] == [header(KEY, 1, 1) + "### succeeded\n"]


def test_deleted_comment_is_posted_again(github: GitHubEndpoint) -> None:
    _, status = _setup(github)
    status.update("### building\n", force=True)
    github.fake.delete_comment(status.ids[0])
    status.update("### succeeded\n", force=True)
    comments = _bot_comments(github.fake)
    assert [c["body"] for c in comments] == [header(KEY, 1, 1) + "### succeeded\n"]
    assert any("was deleted; posting it again" in line for line in github.logs)


def test_body_too_long_for_github_is_split_again(github: GitHubEndpoint) -> None:
    github.fake.comment_limit = 60_000  # GitHub counted differently than we did
    _, status = _setup(github)
    body = "".join(f"line {i} " + "x" * 60 + "\n" for i in range(1500))
    status.update(body, force=True)
    comments = _bot_comments(github.fake)
    assert all(len(c["body"]) <= 60_000 for c in comments)
    assert _final_text(github.fake) == body
    assert any("splitting again" in line for line in github.logs)


def test_retries_exhausted_is_a_clear_error_and_no_partial_duplicates(github: GitHubEndpoint) -> None:
    _, status = _setup(github, client={"policy": RetryPolicy(max_attempts=3)})
    status.update("### building\n", force=True)
    github.fake.inject("PATCH", r"/issues/comments/\d+$", "502", times=3)
    with pytest.raises(GitHubError) as raised:
        status.update("### succeeded\n", force=True)
    assert "after 3 attempts" in str(raised.value)
    status.update("### succeeded\n", force=True)  # the next try (e.g. the final report) goes through
    assert [c["body"] for c in _bot_comments(github.fake)] == [header(KEY, 1, 1) + "### succeeded\n"]


def test_token_never_posted_nor_logged(github: GitHubEndpoint) -> None:
    github.fake.inject("POST", COMMENTS, "502")
    _, status = _setup(github)
    status.update(f"### failed\n\nerror: auth with {GITHUB_TOKEN} refused\n```\nBearer {GITHUB_TOKEN}\n```\n",
                  force=True)
    for record in github.fake.requests:
        assert GITHUB_TOKEN not in str(record.body)
    assert all(GITHUB_TOKEN not in line for line in github.logs)
    assert "auth with *** refused" in _final_text(github.fake)


def test_markers_are_trusted_only_from_the_action_itself(github: GitHubEndpoint) -> None:
    fake = github.fake
    fake.add_pull(PR, head_sha="a" * 40)
    forged = header(KEY, 1, 1) + "forged\n" + state_marker({"run_id": "evil"})
    fake.add_comment(PR, forged, user="mallory")
    fake.add_comment(PR, forged, user="evil-app[bot]", user_type="Bot")
    repo = github.repo()
    bot_id = fake.add_comment(PR, header("999", 1, 1) + state_marker({"run_id": "good"}),
                              user=fake.bot_login, user_type="Bot")
    assert [r.data for r in repo.read_states(PR)] == [{"run_id": "good"}]
    assert [r.comment_id for r in repo.read_states(PR)] == [bot_id]
    status = repo.status_comment(PR, KEY, resume=True)
    assert status.ids == []  # the forged status comments are not adopted
    status.update("real\n", force=True)
    assert fake.bodies(PR).count(forged) == 2  # untouched


def test_resume_edits_the_comment_an_earlier_attempt_wrote(github: GitHubEndpoint) -> None:
    repo, first = _setup(github)
    first.update("### building (attempt 1)\n", force=True)
    again = repo.status_comment(PR, KEY, resume=True)
    assert again.ids == first.ids
    again.update("### succeeded (attempt 2)\n", force=True)
    assert [c["body"] for c in _bot_comments(github.fake)] == [header(KEY, 1, 1) + "### succeeded (attempt 2)\n"]


def test_identity_is_learnt_from_what_the_token_posts(github: GitHubEndpoint) -> None:
    _, status = _setup(github, identity=Identity("kfops-app[bot]"))
    status.update("x\n", force=True)
    assert status.identity == Identity("github-actions[bot]", "Bot")
    assert any("posts as github-actions[bot]" in line for line in github.logs)


def test_bad_key_is_refused(github: GitHubEndpoint) -> None:
    github.fake.add_pull(PR, head_sha="a" * 40)
    with pytest.raises(ValueError):
        github.repo().status_comment(PR, "bad key -->")
