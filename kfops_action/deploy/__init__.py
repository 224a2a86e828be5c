"""Deploying a trained model with KServe: the engine behind /deploy and /staging_deploy.

Small modules, one concern each:
- template.py    render the InferenceService from the repository's template (values cannot inject YAML)
- annotations.py provenance annotations (PR, commit, run, actor) on every object written
- kube.py / isvc.py  Kubernetes calls as plain dicts, merge patches, 409 retries
- readiness.py   "is the new revision ready with its traffic share" (not observedGeneration)
- endpoint_check.py  POST a sample to the new revision, bounded retries
- lock.py        one deploy per environment (a Lease that expires if the job dies)
- sticky_lock.py locks people take with /lock and the /lock --global freeze (Leases held until /unlock)
- rollback.py    /rollback (KServe's previous rolled-out revision back) and /undeploy
- mode.py        Knative vs Standard/RawDeployment, and what to do in the latter
- canary_plan.py the canary's steps (`canary_steps`, or the single `canary_percent`) and pause
- canary_support.py / standard_canary.py  KServe v0.20's spec.canary in Standard mode
- rollout.py     the engine: create / canary / promote / rollback
- result.py      DeployResult, what the report shows

Importing this package loads neither `kubernetes` nor `requests` (nor `kserve`, ever): they are
imported inside the functions that call them.
"""

from .endpoint_check import (CheckOutcome, CheckTarget, EndpointCheckConfig, EndpointChecker,
                             HttpEndpointCheck)
from .errors import (Conflict, DeployError, Forbidden, Invalid, KubeApiError, LockHeld, LockLost,
                     ModeRefused, NamespaceMissing, RolloutFailed, TemplateError)
from .result import DeployResult, Step, TrafficShare
from .rollout import Timeouts, deploy
from .template import TemplateValues, load_manifest

__all__ = [
    "CheckOutcome", "CheckTarget", "Conflict", "DeployError", "DeployResult", "EndpointCheckConfig",
    "EndpointChecker", "Forbidden", "HttpEndpointCheck", "Invalid", "KubeApiError", "LockHeld",
    "LockLost", "ModeRefused", "NamespaceMissing", "RolloutFailed", "Step", "TemplateError",
    "TemplateValues", "Timeouts", "TrafficShare", "deploy", "load_manifest",
]
