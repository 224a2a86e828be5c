"""Secrets out of everything posted or logged: registered values in every likely form, and values
that merely look like credentials."""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import quote

from kfops_action.github import actions_commands
from kfops_action.github.scrub import REDACTED, Scrubber, from_env, secrets_from_env

TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
KFP_TOKEN = "kfp-very-secret-value-123"


def test_registered_secret_in_every_form() -> None:
    scrub = Scrubber([KFP_TOKEN])
    for form in (KFP_TOKEN, quote(KFP_TOKEN, safe=""), json.dumps(KFP_TOKEN)[1:-1],
                 base64.b64encode(KFP_TOKEN.encode()).decode(),
                 base64.b64encode(b"x-access-token:" + KFP_TOKEN.encode()).decode()):
        assert scrub(f"before {form} after") == f"before {REDACTED} after"


def test_multi_line_secret_lines_and_cookie_values() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    cookie = "authservice_session=MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQ; other=plainvalue42"
    scrub = Scrubber([key, cookie])
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in scrub("partial: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC")
    assert scrub("value plainvalue42 leaked") == f"value {REDACTED} leaked"


def test_shapes_of_credentials_are_scrubbed_unregistered() -> None:
    scrub = Scrubber()
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    text = (f"token {TOKEN}\nAuthorization: Bearer abcdefghijklmnop123\njwt {jwt}\n"
            "Cookie: authservice_session=abc123def456\nurl https://user:hunter2@example.invalid/x\n"
            "pat github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789")
    out = scrub(text)
    for leaked in (TOKEN, "abcdefghijklmnop123", jwt, "abc123def456", "hunter2", "github_pat_11ABCDEFG"):
        assert leaked not in out
    assert "Authorization: Bearer ***" in out and "https://***@example.invalid/x" in out


def test_short_values_are_masked_but_not_scrubbed() -> None:
    masked: list[str] = []
    scrub = Scrubber(["abc"], mask=masked.append)
    assert masked == ["abc"]
    assert scrub("abc def") == "abc def"


def test_masks_are_sent_to_the_runner() -> None:
    out = io.StringIO()
    Scrubber([KFP_TOKEN], mask=lambda value: actions_commands.add_mask(value, out=out))
    lines = out.getvalue().splitlines()
    assert lines[0] == f"::add-mask::{KFP_TOKEN}"
    assert f"::add-mask::{base64.b64encode(KFP_TOKEN.encode()).decode()}" in lines


def test_secrets_from_the_environment_by_name() -> None:
    env = {"GITHUB_TOKEN": TOKEN, "INPUT_GITHUB-TOKEN": TOKEN, "KF_PIPELINES_COOKIE": "session=abcdef123456",
           "KF_PIPELINES_TOKEN": KFP_TOKEN, "HOME": "/root", "KF_PIPELINES_AUTH_TYPE": "cookie",
           "ACTIONS_RUNTIME_TOKEN": "runtime-token-value"}
    found = secrets_from_env(env)
    assert set(found) == {TOKEN, "session=abcdef123456", KFP_TOKEN, "runtime-token-value"}
    scrub = from_env(env)
    assert scrub("cookie abcdef123456 home /root cookie") == f"cookie {REDACTED} home /root cookie"


def test_json_data_scrubbed_keys_kept() -> None:
    scrub = Scrubber([KFP_TOKEN])
    assert scrub.scrub_data({"body": f"x {KFP_TOKEN}", "n": 1, "list": [KFP_TOKEN]}) == {
        "body": f"x {REDACTED}", "n": 1, "list": [REDACTED]}


def test_scrubbing_a_large_log_is_fast() -> None:
    import time

    scrub = Scrubber([KFP_TOKEN, TOKEN, "another-secret-value"])
    log = ("INFO step ok " * 8 + "\n") * 50_000 + KFP_TOKEN
    start = time.perf_counter()
    out = scrub(log)
    assert time.perf_counter() - start < 0.5
    assert out.endswith(REDACTED) and KFP_TOKEN not in out
