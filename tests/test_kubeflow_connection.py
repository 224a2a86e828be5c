"""Where kfops finds Kubeflow and its credentials: flags, environment, kfops.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfops_action.errors import ConfigError
from kfops_action.kubeflow.connection import Connection, resolve_connection

CONFIG_URL = "https://config.example.com/pipeline"
ENV_URL = "https://env.example.com/pipeline"
FLAG_URL = "http://localhost:8080"
SECRET = "s3cr3t-token-value-9f2a"


def resolve(kubeflow: dict | None = None, *, env: dict[str, str] | None = None,
            endpoint_override: str | None = None, namespace: str | None = None,
            base_dir: Path = Path("/nonexistent")) -> Connection:
    return resolve_connection(kubeflow if kubeflow is not None else {"endpoint": CONFIG_URL},
                              namespace=namespace, endpoint_override=endpoint_override,
                              env=env or {}, base_dir=base_dir)


# -- endpoint ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flag, env, expected", [
    (FLAG_URL, {"KF_PIPELINES_ENDPOINT": ENV_URL}, FLAG_URL),
    (None, {"KF_PIPELINES_ENDPOINT": ENV_URL}, ENV_URL),
    (None, {}, CONFIG_URL),
    (None, {"KF_PIPELINES_ENDPOINT": ""}, CONFIG_URL),  # Actions passes unset inputs as ""
])
def test_endpoint_precedence_is_flag_then_env_then_config(flag, env, expected):
    assert resolve(env=env, endpoint_override=flag).endpoint == expected


def test_no_endpoint_anywhere_names_all_three_places():
    with pytest.raises(ConfigError) as err:
        resolve({})
    fix = err.value.fix or ""
    assert "--endpoint" in fix and "KF_PIPELINES_ENDPOINT" in fix and "kubeflow.endpoint" in fix


def test_missing_kubeflow_section_behaves_like_an_empty_one():
    conn = resolve_connection(None, namespace=None, endpoint_override=None,
                              env={"KF_PIPELINES_ENDPOINT": ENV_URL}, base_dir=Path("."))
    assert conn.endpoint == ENV_URL and conn.token is None and conn.cookie is None


@pytest.mark.parametrize("bad", ["kf.example.com/pipeline", "ftp://kf.example.com", "https://"])
def test_endpoint_without_http_scheme_is_rejected_naming_its_source(bad):
    with pytest.raises(ConfigError) as err:
        resolve(env={"KF_PIPELINES_ENDPOINT": bad})
    assert bad in str(err.value)
    assert "KF_PIPELINES_ENDPOINT" in str(err.value)
    assert "http://" in str(err.value)


def test_trailing_slash_is_dropped_so_paths_join_cleanly():
    assert resolve({"endpoint": CONFIG_URL + "/"}).endpoint == CONFIG_URL


def test_run_links_use_the_ui_endpoint_when_set_else_the_api_endpoint():
    assert resolve().run_link_base == CONFIG_URL
    ui = "https://ui.example.com/"
    conn = resolve({"endpoint": CONFIG_URL, "ui_endpoint": ui})
    assert conn.ui_endpoint == "https://ui.example.com" and conn.run_link_base == conn.ui_endpoint


def test_namespace_comes_from_the_caller():
    assert resolve(namespace="team-a").namespace == "team-a"
    assert resolve(namespace="").namespace is None


# -- auth -------------------------------------------------------------------------------------


def test_token_auth_reads_the_named_variable():
    conn = resolve({"endpoint": CONFIG_URL, "auth": {"type": "token", "token_env": "MY_TOKEN"}},
                   env={"MY_TOKEN": f"  {SECRET}\n", "KF_PIPELINES_TOKEN": "other"})
    assert conn.token == SECRET and conn.cookie is None
    assert conn.auth_source == "environment variable MY_TOKEN"


def test_token_auth_defaults_to_kf_pipelines_token():
    conn = resolve({"endpoint": CONFIG_URL, "auth": {"type": "token"}},
                   env={"KF_PIPELINES_TOKEN": SECRET})
    assert conn.token == SECRET


@pytest.mark.parametrize("env", [{}, {"MY_TOKEN": ""}, {"MY_TOKEN": "  "}])
def test_token_auth_without_the_variable_names_it_and_prints_no_value(env):
    env = dict(env, KF_PIPELINES_TOKEN=SECRET, KF_PIPELINES_COOKIE=SECRET)
    with pytest.raises(ConfigError) as err:
        resolve({"endpoint": CONFIG_URL, "auth": {"type": "token", "token_env": "MY_TOKEN"}},
                env=env)
    assert "MY_TOKEN" in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)


def test_cookie_auth_reads_the_named_variable():
    cookie = f"authservice_session={SECRET}"
    conn = resolve({"endpoint": CONFIG_URL, "auth": {"type": "cookie", "cookie_env": "SESSION"}},
                   env={"SESSION": cookie})
    assert conn.cookie == cookie and conn.token is None


def test_cookie_auth_without_the_variable_names_the_default():
    with pytest.raises(ConfigError) as err:
        resolve({"endpoint": CONFIG_URL, "auth": {"type": "cookie"}})
    assert "KF_PIPELINES_COOKIE" in str(err.value)


def test_service_account_token_is_read_from_a_file_relative_to_the_config(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text(f"\n{SECRET}\n")
    conn = resolve({"endpoint": CONFIG_URL,
                    "auth": {"type": "service_account_token", "token_file": "secrets/token"}},
                   base_dir=tmp_path)
    assert conn.token == SECRET
    assert conn.auth_source == f"token file {tmp_path / 'secrets' / 'token'}"


def test_service_account_token_defaults_to_the_projected_volume_path():
    with pytest.raises(ConfigError) as err:
        resolve({"endpoint": CONFIG_URL, "auth": {"type": "service_account_token"}})
    assert "/var/run/secrets/kubeflow/pipelines/token" in str(err.value)


def test_missing_token_file_is_a_config_error_naming_the_path(tmp_path):
    with pytest.raises(ConfigError) as err:
        resolve({"endpoint": CONFIG_URL,
                  "auth": {"type": "service_account_token", "token_file": "nope"}},
                 base_dir=tmp_path)
    assert str(tmp_path / "nope") in str(err.value)
    assert "token_file" in str(err.value)


def test_empty_token_file_is_a_config_error(tmp_path):
    (tmp_path / "token").write_text("  \n")
    with pytest.raises(ConfigError, match="empty"):
        resolve({"endpoint": CONFIG_URL, "auth": {"type": "service_account_token",
                                                   "token_file": str(tmp_path / "token")}})


def test_auth_none_ignores_credentials_in_the_environment():
    conn = resolve({"endpoint": CONFIG_URL, "auth": {"type": "none"}},
                   env={"KF_PIPELINES_TOKEN": SECRET, "KF_PIPELINES_COOKIE": "a=b"})
    assert conn.token is None and conn.cookie is None and conn.secrets() == []


@pytest.mark.parametrize("env, token, cookie", [
    ({"KF_PIPELINES_TOKEN": SECRET, "KF_PIPELINES_COOKIE": "s=abcd"}, SECRET, None),
    ({"KF_PIPELINES_COOKIE": "s=abcd"}, None, "s=abcd"),
    ({"KF_PIPELINES_TOKEN": "", "KF_PIPELINES_COOKIE": "s=abcd"}, None, "s=abcd"),
    ({}, None, None),
])
def test_without_auth_section_the_environment_decides(env, token, cookie):
    conn = resolve(env=env)
    assert (conn.token, conn.cookie) == (token, cookie)


def test_unknown_auth_type_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        resolve({"endpoint": CONFIG_URL, "auth": {"type": "oauth"}})
    assert "service_account_token" in str(err.value)


def test_secrets_are_hidden_from_repr_and_listed_for_scrubbing():
    conn = Connection(CONFIG_URL, token=SECRET, cookie="authservice_session=abcdef123; x=1")
    assert SECRET not in repr(conn) and "abcdef123" not in repr(conn)
    assert set(conn.secrets()) == {SECRET, "authservice_session=abcdef123; x=1", "abcdef123"}


# -- other options ----------------------------------------------------------------------------


def test_tls_and_timeout_options(tmp_path):
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    conn = resolve({"endpoint": CONFIG_URL, "verify_ssl": False, "ca_cert": "ca.pem",
                    "timeout_seconds": 5}, base_dir=tmp_path)
    assert conn.verify_ssl is False
    assert conn.ca_cert == str(tmp_path / "ca.pem")
    assert conn.timeout == 5.0 and isinstance(conn.timeout, float)


def test_defaults_verify_tls_with_a_30s_timeout():
    conn = resolve()
    assert conn.verify_ssl is True and conn.ca_cert is None and conn.timeout == 30.0


def test_missing_ca_bundle_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="CA bundle"):
        resolve({"endpoint": CONFIG_URL, "ca_cert": "missing.pem"}, base_dir=tmp_path)


@pytest.mark.parametrize("value", [0, -1, "30", True])
def test_timeout_must_be_a_positive_number(value):
    with pytest.raises(ConfigError, match="timeout_seconds"):
        resolve({"endpoint": CONFIG_URL, "timeout_seconds": value})


def test_service_account_token_is_read_again_for_each_request(tmp_path):
    """The kubelet rotates a projected token: the file is read when a request is made, and every
    token seen is a secret to scrub."""
    token_file = tmp_path / "token"
    token_file.write_text(SECRET + "\n")
    conn = resolve({"endpoint": CONFIG_URL, "auth": {"type": "service_account_token",
                                                      "token_file": str(token_file)}})
    assert conn.token_file == str(token_file) and conn.current_token() == SECRET
    token_file.write_text("rotated-token-value-9876\n")
    assert conn.current_token() == "rotated-token-value-9876"
    assert set(conn.secrets()) == {SECRET, "rotated-token-value-9876"}
    token_file.unlink()  # mid-rotation: keep the token sent before rather than send none
    assert conn.current_token(previous="rotated-token-value-9876") == "rotated-token-value-9876"
    assert conn.current_token() == SECRET
    assert "rotated-token-value-9876" not in repr(conn) and SECRET not in repr(conn)
