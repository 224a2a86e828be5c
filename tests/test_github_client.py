"""The REST client against the fake GitHub, directly and through Prism: headers, retries per
GitHub's rules, rate limits, pacing, request counting, and where the token may go."""

from __future__ import annotations

import pytest
from fakes.fake_github import FakeGitHub
from fakes.github_prism import GITHUB_TOKEN, GitHubEndpoint, github  # noqa: F401

from kfops_action.github.client import API_VERSION, GitHubClient, GitHubError, RetryPolicy, api_url_from_env


def _seed(fake: FakeGitHub) -> None:
    fake.add_pull(7, head_sha="a" * 40)


def test_sends_github_headers(github: GitHubEndpoint) -> None:
    _seed(github.fake)
    data = github.client().get(f"/repos/{github.fake.owner}/{github.fake.repo}/pulls/7")
    assert data["head"]["sha"] == "a" * 40
    sent = github.fake.requests[-1].headers
    assert sent["authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert sent["x-github-api-version"] == API_VERSION
    assert sent["accept"] == "application/vnd.github+json"
    assert sent["user-agent"].startswith("kfops/")


@pytest.mark.parametrize("fault", ["500", "502", "503"])
def test_5xx_is_retried_with_backoff(github: GitHubEndpoint, fault: str) -> None:
    _seed(github.fake)
    github.fake.inject("GET", r"/pulls/7$", fault, times=2)
    client = github.client(jitter=lambda: 1.0)
    assert client.get(f"/repos/{github.fake.owner}/{github.fake.repo}/pulls/7")["number"] == 7
    assert github.sleeps == [1.0, 2.0]  # exponential: base 1 s, doubled, full jitter at its top
    assert client.stats.requests == 3 and client.stats.retries == 2
    assert any("retrying in 1.0s (attempt 2 of 5)" in line for line in github.logs)


def test_503_retry_after_is_honoured(github: GitHubEndpoint) -> None:
    _seed(github.fake)
    github.fake.inject("GET", r"/pulls/7$", "503-retry-after", seconds=7)
    github.client().get(f"/repos/{github.fake.owner}/{github.fake.repo}/pulls/7")
    assert github.sleeps == [7.0]


def test_connection_reset_is_retried(github: GitHubEndpoint) -> None:
    # Through Prism a reset upstream becomes Prism's own 500: retried all the same.
    _seed(github.fake)
    github.fake.inject("GET", r"/pulls/7$", "reset")
    client = github.client(jitter=lambda: 0.5)
    assert client.get(f"/repos/{github.fake.owner}/{github.fake.repo}/pulls/7")["number"] == 7
    assert github.sleeps == [0.5]


@pytest.mark.parametrize("fault,wait", [("429-retry-after", 30.0), ("403-secondary-retry-after", 30.0),
                                        ("429", 60.0), ("403-secondary", 60.0)])
def test_secondary_rate_limit_waits_retry_after_else_a_minute(github: GitHubEndpoint, fault: str,
                                                              wait: float) -> None:
    _seed(github.fake)
    github.fake.inject("GET", r"/pulls/7$", fault, seconds=30)
    github.client().get(f"/repos/{github.fake.owner}/{github.fake.repo}/pulls/7")
    assert github.sleeps == [wait]


def test_repeated_secondary_limits_double_the_wait(github: GitHubEndpoint) -> None:
    _seed(github.fake)
    github.fake.inject("GET", r"/pulls/7$", "403-secondary", times=3)
    github.client().get(f"/repos/{github.fake.owner}/{github.fake.repo}/pulls/7")
    assert github.sleeps == [60.0, 120.0, 240.0]


def test_primary_limit_waits_until_reset(github: GitHubEndpoint) -> None:
    _seed(github.fake)
    github.fake.inject("GET", r"/pulls/7$", "403-primary", seconds=120)
    now = __import__("time").time()
    github.client(wall=lambda: now).get(f"/repos/{github.fake.owner}/{github.fake.repo}/pulls/7")
    assert len(github.sleeps) == 1 and 115 <= github.sleeps[0] <= 123


def test_primary_limit_far_away_fails_at_once_with_the_reset_time(github: GitHubEndpoint) -> None:
    _seed(github.fake)
    github.fake.inject("GET", r"/pulls/7$", "403-primary", seconds=3000)
    with pytest.raises(GitHubError) as raised:
        github.client().get(f"/repos/{github.fake.owner}/{github.fake.repo}/pulls/7")
    assert github.sleeps == []
    assert "rate limit for this token is used up until" in str(raised.value)
    assert raised.value.status == 403


def test_attempts_are_bounded_and_the_error_says_what_happened(github: GitHubEndpoint) -> None:
    _seed(github.fake)
    github.fake.inject("GET", r"/pulls/7$", "502", times=10)
    client = github.client(policy=RetryPolicy(max_attempts=3))
    with pytest.raises(GitHubError) as raised:
        client.get(f"/repos/{github.fake.owner}/{github.fake.repo}/pulls/7")
    message = str(raised.value)
    assert "after 3 attempts" in message and "502" in message and "How to fix:" in message
    assert github.fake.count("GET", r"/pulls/7$") == 3


def test_permission_403_is_not_retried(github: GitHubEndpoint) -> None:
    fake = github.fake
    fake.add_pull(7, head_sha="a" * 40)
    other = fake.add_comment(7, "a human's comment")
    with pytest.raises(GitHubError) as raised:
        github.client().patch(f"/repos/{fake.owner}/{fake.repo}/issues/comments/{other}", {"body": "x"})
    assert raised.value.status == 403 and github.sleeps == []
    assert "permission" in (raised.value.fix or "")


def test_404_and_422_are_errors_with_github_details(github: GitHubEndpoint) -> None:
    _seed(github.fake)
    client = github.client()
    with pytest.raises(GitHubError) as missing:
        client.get(f"/repos/{github.fake.owner}/{github.fake.repo}/pulls/99")
    assert missing.value.status == 404
    with pytest.raises(GitHubError) as long:
        client.post(f"/repos/{github.fake.owner}/{github.fake.repo}/issues/7/comments", {"body": "x" * 70_000})
    assert long.value.status == 422 and long.value.has_error_text("too long")
    assert "body is too long" in str(long.value)


def test_bad_token_is_401_with_a_fix(github: GitHubEndpoint) -> None:
    _seed(github.fake)
    with pytest.raises(GitHubError) as raised:
        github.client(token="ghs_wrongwrongwrongwrongwrongwrongwrong00").get(
            f"/repos/{github.fake.owner}/{github.fake.repo}/pulls/7")
    assert raised.value.status == 401 and "github-token" in (raised.value.fix or "")


def test_content_creating_requests_are_paced(github: GitHubEndpoint) -> None:
    _seed(github.fake)
    client = github.client()
    path = f"/repos/{github.fake.owner}/{github.fake.repo}/issues/7/comments"
    for n in range(3):
        client.post(path, {"body": f"comment {n}"})
    client.get(path)  # reads are not paced
    assert len(github.sleeps) == 2 and all(0.5 < s <= 1.0 for s in github.sleeps)


def test_requests_are_counted_for_the_job_log(github: GitHubEndpoint) -> None:
    _seed(github.fake)
    github.fake.inject("GET", r"/pulls/7$", "502")
    client = github.client(jitter=lambda: 0.0)
    client.get(f"/repos/{github.fake.owner}/{github.fake.repo}/pulls/7")
    client.post(f"/repos/{github.fake.owner}/{github.fake.repo}/issues/7/comments", {"body": "hi"})
    line = client.summary()
    assert line.startswith("GitHub API: 3 requests (2 reads, 1 writes, 1 retries")
    assert "rate limit 997/1000 left" in line


def test_pagination_follows_link_headers(github: GitHubEndpoint) -> None:
    _seed(github.fake)
    for n in range(5):
        github.fake.add_comment(7, f"comment {n}")
    client = github.client()
    items = list(client.paginate(f"/repos/{github.fake.owner}/{github.fake.repo}/issues/7/comments", per_page=2))
    assert [c["body"] for c in items] == [f"comment {n}" for n in range(5)]
    assert client.stats.requests == 3


def test_token_never_leaves_the_api_origin(github: GitHubEndpoint) -> None:
    client = github.client()
    with pytest.raises(GitHubError, match="refusing to send the GitHub token"):
        client.get("http://127.0.0.1:9/elsewhere")


def test_github_enterprise_base_url_keeps_its_path() -> None:
    with FakeGitHub(token=GITHUB_TOKEN, path_prefix="/api/v3") as fake:
        fake.add_pull(3, head_sha="c" * 40)
        env = {"GITHUB_API_URL": fake.url + "/api/v3/"}
        assert api_url_from_env(env) == fake.url + "/api/v3"
        client = GitHubClient(GITHUB_TOKEN, env=env, sleep=lambda s: None)
        assert client.get(f"/repos/{fake.owner}/{fake.repo}/pulls/3")["number"] == 3
        assert fake.requests[-1].path == f"/repos/{fake.owner}/{fake.repo}/pulls/3"


def test_connection_refused_fails_clearly_without_waiting_long() -> None:
    sleeps: list[float] = []
    client = GitHubClient(GITHUB_TOKEN, api_url="http://127.0.0.1:9", sleep=sleeps.append,
                          policy=RetryPolicy(max_attempts=2), jitter=lambda: 1.0)
    with pytest.raises(GitHubError) as raised:
        client.get("/rate_limit")
    assert "after 2 attempts" in str(raised.value) and raised.value.status is None
    assert sleeps == [1.0]


def test_missing_token_is_a_clear_error() -> None:
    with pytest.raises(GitHubError, match="No GitHub token"):
        GitHubClient("")


def test_github_package_imports_nothing_heavy() -> None:
    """The Action reacts to a comment before paying for kfp or kubernetes; requests comes with the
    first client."""
    import subprocess
    import sys

    code = ("import sys, kfops_action.github.repo, kfops_action.github.reporter, kfops_action.github.render;"
            "heavy = [m for m in ('kfp', 'kubernetes', 'requests', 'yaml', 'jsonschema') if m in sys.modules];"
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
