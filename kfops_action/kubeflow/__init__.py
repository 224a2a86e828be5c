"""Kubeflow Pipelines adapter: where KFP is (connection), what we ask of it (remote), and
waiting for a run (wait). Importing this package does not import kfp or kfp_server_api."""

from kfops_action.kubeflow.connection import Connection, resolve_connection
from kfops_action.kubeflow.remote import (
    KfpRemote,
    NotFound,
    PipelineVersionRef,
    RunRef,
    RunStatus,
    TaskState,
    Unreachable,
)
from kfops_action.kubeflow.wait import failure_of, wait_for_run

__all__ = [
    "Connection",
    "KfpRemote",
    "NotFound",
    "PipelineVersionRef",
    "RunRef",
    "RunStatus",
    "TaskState",
    "Unreachable",
    "failure_of",
    "resolve_connection",
    "wait_for_run",
]
