"""The GitHub secrets kfops' workflows read, and how each one reaches kfops: the one place that names them.

A hint that names a secret the workflow does not read sends a new user to create the wrong one and
then wonder why nothing changed. So `workflows/kfops.yml`, `kfc init`'s next steps, `kfc doctor`,
`kfc build`'s errors and the docs all take the names from here, and tests/test_workflow_secrets.py
checks the workflows and the docs against this list.
"""

from __future__ import annotations

KUBEFLOW_TOKEN = "KFOPS_KUBEFLOW_TOKEN"      # repository secret: bearer token for the KFP API
KUBEFLOW_COOKIE = "KFOPS_KUBEFLOW_COOKIE"    # repository secret: session cookie, instead of the token
BUILD_KUBECONFIG = "KFOPS_BUILD_KUBECONFIG"  # repository secret: the pipeline job's Kaniko-only kubeconfig
DEPLOY_KUBECONFIG = "KFOPS_KUBECONFIG"       # environment secret of production/staging: the deploy job's

#: kubeflow.auth.type -> (the secret, the action input the workflow passes it as).
KUBEFLOW_SECRETS: dict[str, tuple[str, str]] = {
    "token": (KUBEFLOW_TOKEN, "kubeflow-token"),
    "cookie": (KUBEFLOW_COOKIE, "kubeflow-cookie"),
}
ALL = (KUBEFLOW_TOKEN, KUBEFLOW_COOKIE, BUILD_KUBECONFIG, DEPLOY_KUBECONFIG)


def workflow_line(kind: str) -> str:
    """The line of workflows/kfops.yml that hands the Kubeflow credential to the action."""
    secret, input_name = KUBEFLOW_SECRETS[kind]
    return f"{input_name}: ${{{{ secrets.{secret} }}}}"


def kubeflow_hint(kind: str, env_var: str, action_env_var: str) -> str:
    """How the Action gets the Kubeflow credential kfops reads from `env_var`.

    The action sets `action_env_var` (KF_PIPELINES_TOKEN / _COOKIE) from its input; a custom
    `token_env` / `cookie_env` is not filled by the input, so the workflow step must set it itself.
    """
    secret, input_name = KUBEFLOW_SECRETS[kind]
    if env_var == action_env_var:
        return (f"in GitHub Actions, create the repository secret {secret} (the workflow passes it as the "
                f"{input_name} input)")
    return (f"in GitHub Actions, create the repository secret {secret} and set `env: {env_var}: "
            f"${{{{ secrets.{secret} }}}}` on the kfops step (the {input_name} input fills {action_env_var} only)")
