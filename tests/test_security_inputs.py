"""Attacks through the Action's inputs, each replayed through the entry point (`action_main.run`,
as `python -m kfops_action` runs it) against the fake GitHub and the fake KFP, and shown to fail:

- a credential written into the Kubeflow endpoint URL never reaches the PR, the job summary, the
  outputs or the log (scrub.url_secrets, registered through Connection.secrets);
- a comment's arguments cannot inject Markdown (mentions, images, links) into the bot's reply, and
  someone who may not run a command gets the refusal, never their arguments echoed back;
- a `--set` value cannot make the YAML parser expand aliases (a bomb, or a self-reference);
- nor can the pull request's own kfops.yaml: its aliases are bounded (MAX_ALIAS_VALUES);
- a malformed kubeconfig is a clear error in the PR, its credentials are scrubbed, and registry
  credentials never go to a host the pull request chose.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fakes.action_flow import NUMBER, PullRequest, make_checkout
from fakes.github_prism import GITHUB_TOKEN, GitHubEndpoint, github  # noqa: F401

from kfops_action import action_main
from kfops_action.chatops import dispatch as d
from kfops_action.chatops.handlers import command_handlers
from kfops_action.errors import ConfigError

URL_SECRET = "q5Tz9kLmN3pRwX7vB2cD"


@pytest.fixture
def pr(github: GitHubEndpoint, fake_kfp: Any, tmp_path: Path) -> PullRequest:
    checkout, head = make_checkout(tmp_path)
    return PullRequest(github, fake_kfp.url, fake_kfp.token, checkout, head, summary=tmp_path / "summary.md")


def run_action(pr: PullRequest, body: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], *,
               user: str = "alice") -> tuple[int, str, str]:
    """The comment through action_main.run: (exit code, the job log, the GITHUB_OUTPUT file)."""
    comment_id = pr.fake.add_comment(NUMBER, body, user=user)
    pr.last_comment = comment_id
    event = tmp_path / "event.json"
    event.write_text(json.dumps(pr.payload(comment_id, body, user)))
    output = tmp_path / "github_output"
    output.write_text("")
    env = {"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(event), "GITHUB_OUTPUT": str(output),
           "GITHUB_STEP_SUMMARY": str(pr.summary), **pr.env}
    code = action_main.run(env, github=pr.repo, handlers=command_handlers(pr.workspace()))
    return code, capsys.readouterr().err, output.read_text()


def everything_shown(pr: PullRequest, log: str, outputs: str) -> dict[str, str]:
    posted = "\n".join(json.dumps(r.body) for r in pr.fake.requests if r.body is not None)
    summary = pr.summary.read_text() if pr.summary.exists() else ""
    return {"PR": posted, "job summary": summary, "outputs": outputs, "log": log}


def outside_code(markdown: str) -> str:
    """The Markdown with its code spans and fences removed (CommonMark: a run of n backticks closes
    at the next run of exactly n): what GitHub renders as markup."""
    out, i = [], 0
    while i < len(markdown):
        if markdown[i] != "`":
            out.append(markdown[i])
            i += 1
            continue
        run = re.match(r"`+", markdown[i:]).group(0)  # type: ignore[union-attr]
        close = re.compile(rf"(?<!`){run}(?!`)").search(markdown, i + len(run))
        if close is None:
            out.append(run)
            i += len(run)
        else:
            i = close.end()
    return "".join(out)


# -- 5. credentials in the Kubeflow endpoint URL ---------------------------------------------------


@pytest.mark.parametrize("shape", ["query", "path", "user", "password"])
def test_a_token_in_the_endpoint_url_is_scrubbed_everywhere(shape: str, pr: PullRequest, fake_kfp: Any,
                                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = fake_kfp.url
    pr.env["KF_PIPELINES_ENDPOINT"] = {
        "query": f"{url}/pipeline?token={URL_SECRET}", "path": f"{url}/t/{URL_SECRET}/pipeline",
        "user": url.replace("://", f"://{URL_SECRET}@"),
        "password": url.replace("://", f"://kfp:{URL_SECRET}@")}[shape]
    code, log, outputs = run_action(pr, "/run", tmp_path, capsys)
    shown = everything_shown(pr, log, outputs)
    assert re.search(r"^kfops: (failed|succeeded)", log, re.M)  # the final line, which echoes the error
    assert code in (0, 1) and "***" in shown["PR"] + shown["log"]
    for where, text in shown.items():
        assert URL_SECRET not in text, f"the endpoint's secret reached the {where}"


def test_url_secrets_and_unregistered_url_shapes() -> None:
    from kfops_action.github.scrub import Scrubber, url_secrets

    assert url_secrets("https://u:pw-123456@kf.example/ns/a1b2c3d4e5f6a7b8c9/pipeline?key=abcdef123&x=12") == [
        "u:pw-123456", "pw-123456", "abcdef123", "12", "a1b2c3d4e5f6a7b8c9"]
    assert url_secrets("https://kubeflow.example.com/kubeflow-pipelines-v2/pipeline") == []  # names stay
    text = Scrubber().scrub("see https://tok3nXYZ@kf.example/p?access_token=s3cr3t-value&page=2 and "
                            "http://kf.example/x?X-Amz-Signature=abcdef0123")
    assert text == "see https://***@kf.example/p?access_token=***&page=2 and http://kf.example/x?X-Amz-Signature=***"


# -- 6. Markdown injection through arguments, and who gets an answer --------------------------------


INJECTION = "'x` @mallory <img src=https://evil.example/x.png> [win](https://evil.example) `y'"


@pytest.mark.parametrize("arguments", [
    INJECTION,                                          # unexpected argument
    f"--set {INJECTION}",                               # --set without KEY=VALUE
    f"--set pipeline.parameters.x=1 '--{INJECTION[1:]}",  # unknown option
    "--set 'pipeline.a`b @mallory <img src=https://evil.example/x.png>=1'",  # a key that is not a path
])
def test_echoed_arguments_cannot_close_their_code_span(arguments: str, pr: PullRequest, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run_action(pr, f"/run {arguments}", tmp_path, capsys)
    assert code == 0
    [reply] = [c["body"] for c in pr.bot_comments()]
    assert "/run was not run" in reply and "Usage:" in reply
    rendered = outside_code(reply)
    for markup in ("@mallory", "<img", "](https://evil", "evil.example"):
        assert markup not in rendered, reply


def test_unauthorized_users_get_the_refusal_not_their_arguments(pr: PullRequest, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    pr.fake.set_permission("mallory", "none")
    code, log, _ = run_action(pr, f"/run {INJECTION}", tmp_path, capsys, user="mallory")
    assert code == 0 and "kfops: denied" in log
    [reply] = [c["body"] for c in pr.bot_comments()]
    assert "@mallory cannot run /run here: it needs write, mallory has none." in reply
    assert "Usage:" not in reply and "evil.example" not in reply


# -- 7. YAML aliases in --set ----------------------------------------------------------------------


BOMB = "[" + ",".join(["&a0 [x,x,x,x,x,x,x,x,x,x]"] + [f"&a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]"
                                                        for i in range(1, 7)]) + "]"


@pytest.mark.parametrize("value", [BOMB, "&a [*a]"])
def test_yaml_aliases_in_a_set_value_are_refused_at_once(value: str, pr: PullRequest, fake_kfp: Any,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    code, log, _ = run_action(pr, f"/run --set 'pipeline.parameters.epochs={value}'", tmp_path, capsys)
    assert time.monotonic() - started < 10
    assert code == 0 and "kfops: bad_arguments" in log
    [reply] = [c["body"] for c in pr.bot_comments()]
    assert "uses a YAML anchor or alias" in reply and "quote the value" in reply
    assert not fake_kfp.runs


def test_set_values_are_capped_and_cut_in_messages() -> None:
    from kfops_action.config.overrides import MAX_SET_VALUE_BYTES, parse_set

    with pytest.raises(ConfigError) as big:
        parse_set("pipeline.parameters.blob=" + "y" * (MAX_SET_VALUE_BYTES + 1))
    assert big.value.what == ("--set pipeline.parameters.blob: the value is 4097 bytes long, more than the 4096 "
                              "bytes a --set value may have")
    assert "kfops.yaml" in str(big.value.fix)
    with pytest.raises(ConfigError) as long_key:
        parse_set("settings." + "k" * 5000 + "=1")
    assert len(long_key.value.what) < 200
    assert parse_set("pipeline.parameters.tag='*not-an-alias'").value == "*not-an-alias"


# -- 8. the kubeconfig input, and where registry credentials go ---------------------------------------


KUBE_TOKEN = "kube-sa-token-9d8c7b6a5f4e"


def test_a_malformed_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    """What /deploy (and the metrics baseline) meet: a KfopsError, which the dispatcher reports in
    the status comment, never the YAML library's exception quoting the line with the token."""
    from kfops_action.chatops.deploy_handler import kube_client

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"apiVersion: v1\nusers:\n- name: ci\n  user:\n    token: {KUBE_TOKEN}\n   bad: [\n")

    with pytest.raises(ConfigError) as err:
        kube_client({"KUBECONFIG": str(kubeconfig)})
    assert err.value.what == f"the kubeconfig {kubeconfig} is not valid YAML"
    assert str(err.value.problems[0]).startswith(f"{kubeconfig}:6:")
    assert "`kubeconfig` input" in str(err.value.fix) and KUBE_TOKEN not in str(err.value)


def test_kubeconfig_credentials_are_registered_when_it_is_loaded(tmp_path: Path) -> None:
    from kfops_action.github.scrub import Scrubber
    from kfops_action.kubeconfig import api_client

    key_data = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2Z0lCQURBTkJna3Foa2lHOXcwQkFRRUZBQVNDCg=="
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "ci",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "contexts": [{"name": "ci", "context": {"cluster": "c", "user": "ci"}}],
        "users": [{"name": "ci", "user": {"token": KUBE_TOKEN}},
                  {"name": "basic", "user": {"username": "admin", "password": "hunter2-long"}},
                  {"name": "cert", "user": {"client-key-data": key_data}}]}))
    scrubber = Scrubber()
    api_client(kubeconfig, add_secret=scrubber.add)
    for secret in (KUBE_TOKEN, "hunter2-long", key_data):
        assert scrubber.scrub(f"x {secret} y") == "x *** y"
    assert "MIIEvgIBADANBgkqhkiG9w0BAQEFAASC" not in scrubber.scrub("key: MIIEvgIBADANBgkqhkiG9w0BAQEFAASC")


def test_the_actions_kubeconfig_leaves_the_disk_before_pull_request_code_runs(tmp_path: Path) -> None:
    """The file action.yml writes from the `kubeconfig` input is read into memory and deleted
    first thing; clients are still made from it. A user's own KUBECONFIG is left alone."""
    from kfops_action.github.scrub import Scrubber
    from kfops_action.kubeconfig import api_client

    kubeconfig = tmp_path / "kubeconfig"
    text = json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "ci",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "contexts": [{"name": "ci", "context": {"cluster": "c", "user": "ci"}}],
        "users": [{"name": "ci", "user": {"token": KUBE_TOKEN}}]})
    kubeconfig.write_text(text)
    scrubber = Scrubber()
    assert action_main._take_kubeconfig({"KUBECONFIG": str(kubeconfig)}, scrubber) is None
    assert kubeconfig.exists()  # not the action's file: untouched
    assert action_main._take_kubeconfig({"KUBECONFIG": str(kubeconfig), "KFOPS_KUBECONFIG_EPHEMERAL": "1"},
                                        scrubber) is None
    assert not kubeconfig.exists()
    assert scrubber.scrub(f"x {KUBE_TOKEN}") == "x ***"
    client = api_client(kubeconfig)
    assert client.configuration.host == "https://127.0.0.1:6443"
    assert client.configuration.api_key["authorization"] == f"Bearer {KUBE_TOKEN}"
    # Not a kubeconfig: the job stops with the clear error, the content never quoted.
    broken = tmp_path / "broken"
    broken.write_text(f"token: {KUBE_TOKEN}\n  bad: [indent")
    error = action_main._take_kubeconfig({"KUBECONFIG": str(broken), "KFOPS_KUBECONFIG_EPHEMERAL": "1"}, scrubber)
    assert error is not None and "is not valid YAML" in str(error) and KUBE_TOKEN not in str(error)


def test_registry_password_without_the_registry_input_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from kfops_action.images.docker import credentials_from_env

    env = {"INPUT_REGISTRY-USERNAME": "ci-bot", "INPUT_REGISTRY-PASSWORD": "registry-pass-1234"}
    with pytest.raises(ConfigError) as err:
        credentials_from_env(env, "evil.example/steal")
    assert err.value.what == "registry credentials are set but the registry to log in to is not"
    assert "set the action's `registry` input" in str(err.value.fix)
    assert "registry-pass-1234" not in str(err.value)
    creds = credentials_from_env({**env, "INPUT_REGISTRY": "ghcr.io"}, "evil.example/steal")
    assert creds is not None and creds.host == "ghcr.io"


# -- 9. YAML aliases in the pull request's kfops.yaml -----------------------------------------------


# Nine anchors, each a list of ten aliases of the one before: under 700 bytes, 10**9 values expanded.
KFOPS_BOMB = "".join([
    "laughs:\n  - &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    *(f"  - &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 9)),
])


@pytest.mark.parametrize("yaml_text, said", [
    (KFOPS_BOMB, "kfops.yaml: YAML aliases expand to more than 10000 values"),
    ("loop: &self {again: *self}\n", "kfops.yaml has a YAML alias inside its own anchor"),
])
def test_an_alias_bomb_in_the_prs_kfops_yaml_is_refused_at_once(yaml_text: str, said: str, github: GitHubEndpoint,
                                                                 fake_kfp: Any, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The PR's own kfops.yaml (read from its checkout for `pipeline` and `images`) is untrusted
    text too: its aliases are bounded, and the reply names the file, the anchor's line and the fix."""
    def add_bomb(repo: Path) -> None:
        path = repo / "kfops.yaml"
        path.write_text(path.read_text() + yaml_text)

    checkout, head = make_checkout(tmp_path, add_bomb)
    pr = PullRequest(github, fake_kfp.url, fake_kfp.token, checkout, head, summary=tmp_path / "summary.md")
    lines = (checkout / "kfops.yaml").read_text().splitlines()
    first_added = len(lines) - len(yaml_text.splitlines()) + 1
    started = time.monotonic()
    code, log, _ = run_action(pr, "/build_run", tmp_path, capsys)
    assert time.monotonic() - started < 10
    assert code == 1 and f"kfops: failed ({said})" in log, log
    [reply] = [c["body"] for c in pr.bot_comments()]
    assert said in reply, reply
    [line] = [int(n) for n in re.findall(r"kfops\.yaml:(\d+):\d+", reply)]
    assert first_added <= line <= len(lines), (line, first_added, reply)
    assert "write the value" in reply
    assert not fake_kfp.runs


def test_anchors_used_a_few_times_still_load(tmp_path: Path) -> None:
    """Anchors are ordinary YAML that a team may use to share settings: only the expansion is bounded."""
    from kfops_action.config.yaml_source import MAX_ALIAS_VALUES, load_yaml

    shared = "base: &base {cpu: '1', memory: 2Gi, env: [a, b, c]}\n" + "".join(
        f"step{i}: *base\n" for i in range(MAX_ALIAS_VALUES // 7))  # 7 values each: the mapping, 2 scalars, the list, 3
    data, positions = load_yaml(shared, "kfops.yaml")
    assert data["step0"] == data["base"] == {"cpu": "1", "memory": "2Gi", "env": ["a", "b", "c"]}
    assert str(positions.of_value(("step7", "memory"))) == "kfops.yaml:1:32"  # the anchor's value
    with pytest.raises(ConfigError, match="expand to more than"):
        load_yaml(shared + "".join(f"more{i}: *base\n" for i in range(10)), "kfops.yaml")
