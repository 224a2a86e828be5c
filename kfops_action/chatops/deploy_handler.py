"""/deploy and /staging_deploy: release the model a run of this pull request trained, with KServe.

    requirements (deploy_rules.py) -> model URI (ML Metadata) -> manifest (base branch) -> gate
    -> head re-checked -> GitHub deployment + kfops/deploy pending -> rollout (kfops_action.deploy)
    -> label moved, deployment success, kfops/deploy success -> (/deploy) merge with sha=

What comes from where, and why:
- Settings (`deployment.<env>`), the InferenceService template, the endpoint-check sample and the
  metrics gate come from the BASE branch (read through GitHub's contents API), never from the
  checked-out PR: a PR could otherwise rewrite its own gate or, with the Python-function template,
  run its own code with the cluster credentials. And only a PR against the repository's default
  branch may deploy, so that "the base branch" is the protected one.
- The model is the output of a successful run of this PR. The status comments' records only name
  the candidate run: KFP is asked what that run is (provenance.py: this PR, this commit, succeeded,
  the configured namespace) and what kfops deploys from is KFP's answer, never the comment's (any
  workflow holding GITHUB_TOKEN writes comments as the action). KFP's REST API records output
  *artifact ids*; their URIs live in ML Metadata, which is asked for them
  (GetArtifactsByID, over the same grpc-web route and credentials as the metrics). When ML Metadata
  cannot be reached the deploy fails before touching anything, saying so: a URI typed into a
  comment would break the chain from the PR to what serves, so there is no such option.
- The cluster: KUBECONFIG (the action's `kubeconfig` input writes it), else the in-cluster service
  account, else ~/.kube/config; the client is built only when a deploy gets that far.

Every outcome is written into the command's status comment: refusals (nothing touched), failures
with what the cluster serves now (the rollout's own account, else read back from the cluster), and
a merge that fails after a successful deploy, loudly, with what to do. SIGTERM (a canceled job)
raises inside the rollout, so it rolls back and releases its lock instead of dying with it held.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, KfopsError, Problem
from ..github.render import ErrorInfo, Link, LogBlock, Table, code
from ..github.statuses import DEPLOY_CONTEXT
from ..pipeline.outputs import MODEL_TYPE
from . import deploy_rules as rules
from . import gates as release_gates
from .dispatch import CommandContext, Result, error_info
from .provenance import verify_run
from .runs import RunRecord, runs_in

if TYPE_CHECKING:
    from ..deploy import DeployResult, Step
    from ..kubeflow.remote import KfpRemote
    from .handlers import Workspace

MERGEABLE_ATTEMPTS = 4          # GitHub computes `mergeable` in the background after a push
MERGEABLE_WAIT = 2.0
IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def _deploy_error_type() -> type[KfopsError]:
    from ..deploy.errors import DeployError

    return DeployError


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """While the rollout runs, SIGTERM and SIGINT raise a DeployError: the engine then rolls back
    and releases the Lease (a KeyboardInterrupt would skip the rollback). Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    error_type = _deploy_error_type()

    def stop(signum: int, frame: Any) -> None:
        raise error_type(f"the job was stopped ({signal.Signals(signum).name}) during the deploy",
                         fix="the rollout was rolled back where it could be; deploy again")

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- cluster access ---------------------------------------------------------------------------


def kube_client(env: Mapping[str, str], *, add_secret: Callable[[str], None] | None = None) -> Any:
    """A kubernetes ApiClient: KUBECONFIG (its credentials registered with `add_secret`), else the
    in-cluster service account, else ~/.kube/config."""
    from kubernetes import client, config

    from ..kubeconfig import api_client

    path = (env.get("KUBECONFIG") or "").split(os.pathsep)[0].strip()
    try:
        if path:
            return api_client(path, add_secret=add_secret)
        if os.path.exists(IN_CLUSTER_TOKEN) and os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        default = Path(env.get("HOME") or Path.home()) / ".kube" / "config"
        if default.is_file():
            return config.new_client_from_config(config_file=str(default))
    except (config.ConfigException, OSError, ValueError, TypeError) as exc:
        raise KfopsError(f"cannot use the kubeconfig{f' {path}' if path else ''}: {exc}",
                         fix="check the action's `kubeconfig` input (a whole kubeconfig file, as a secret)",
                         exit_code=1) from None
    raise KfopsError("no credentials for the Kubernetes cluster to deploy to",
                     fix="pass a kubeconfig to the action (`kubeconfig: ${{ secrets.KFOPS_KUBECONFIG }}`), or run "
                         "the job in the cluster with a service account", exit_code=1)


def production_isvc_reader(base_data: Mapping[str, Any] | None,
                           kube: Callable[[], Any]) -> Callable[[], dict[str, Any] | None]:
    """Reads the production InferenceService named in the base branch's deployment.production
    (None when none is configured or it does not exist); `kube` gives the ApiClient when needed.
    The /deploy gate and the run report's metrics baseline both read it this way."""
    production = ((base_data or {}).get("deployment") or {}).get("production") or {}

    def live() -> dict[str, Any] | None:
        if not production.get("namespace") or not production.get("inference_service"):
            return None
        from ..deploy.isvc import IsvcApi
        from ..deploy.kube import Kube

        return IsvcApi(Kube(kube())).get(production["namespace"], production["inference_service"])

    return live


# -- the handler --------------------------------------------------------------------------------


def handle_deploy(context: CommandContext, *, workspace: Workspace) -> Result:
    command, pull, github = context.command, context.pull, context.github
    gh: Any = github  # the GitHubRepo: labels, merge, deployments, compare, reviews, files
    environment = command.target or "production"
    head = context.head_sha
    warnings: list[str] = []

    def refused(reason: str, **changes: Any) -> Result:
        return Result.of("refused", summary=f"Not deployed to {environment}: {reason}", **changes)

    settings = rules.settings_for(environment, context.base.data, context.base.source)
    if isinstance(settings, rules.Refusal):
        return refused(settings.reason)
    repository = gh.repository()
    refusal = rules.check_default_branch(pull.base_ref or "", repository.get("default_branch"))
    if refusal:
        return refused(refusal.reason)
    current = _fresh_pull(gh, pull.number, workspace.sleep)
    if (current.get("head") or {}).get("sha") != head:
        return refused(_moved(head, current, command.name))
    policy = release_gates.Gates.from_config(context.base.data)
    refusal = release_gates.check_drafts(policy, draft=bool(current.get("draft")), environment=environment,
                                         number=pull.number, command=command.name)
    if refusal:
        return refused(refusal.reason)
    merging = rules.merges(environment, settings)
    gates = [rules.check_mergeable(current, pull.number)] if merging else []
    compared = gh.compare(pull.base_ref, head)
    gates.append(rules.check_behind(int(compared.get("behind_by") or 0), pull.base_ref or "",
                                    command=command.name, force=command.force, merges=merging))
    for gate in gates:
        if gate.refusal:
            return refused(gate.refusal.reason)
        warnings += gate.warnings
    required = rules.required_approvals(environment, settings)
    if required:
        author = ((current.get("user") or {}).get("login"))
        approvals = rules.count_approvals(gh.reviews(pull.number), head_sha=head, author=author,
                                          may_approve=lambda login: _may_approve(gh, login))
        refusal = rules.check_approvals(approvals, required, head)
        if refusal:
            return refused(refusal.reason)
    refusal = _release_gates(gh, policy, environment=environment, head=head, command=command.name,
                             production=rules.production_like(environment, settings))
    if refusal:
        return refused(refusal.reason)
    records = [run for _, run in runs_in(github.status_comments(pull.number))]
    chosen = rules.choose_run(records, head_sha=head, pr=pull.number, command=command.name,
                              run_id=command.run_id, force=command.force)
    if isinstance(chosen, rules.Refusal):
        return refused(chosen.reason)
    warnings += chosen.warnings
    from .handlers import base_remote

    remote = base_remote(context, workspace)
    verified = verify_run(remote, chosen.run, pr=pull.number, succeeded=True)
    if isinstance(verified, rules.Refusal):
        return refused(f"{verified.reason} Nothing was deployed.")
    run = verified.record(chosen.run, pull.number)
    refusal = release_gates.check_model_age(policy, run_id=run.run_id, finished_at=run.finished_at,
                                            now=datetime.now(timezone.utc))
    if refusal:
        return refused(f"{refusal.reason} Nothing was deployed.")
    for warning in warnings:
        context.report.warning(warning)
    context.report.update(state="deploying", run_name=run.run_name or run.run_id, run_url=run.run_url or None,
                          summary=f"Deploying the model of run {code(run.run_id)} to {environment}.")

    deploying = _Deploy(context, workspace, environment, settings, run, merging, remote)
    try:
        return deploying.go()
    except KfopsError as exc:
        deploying.failed(exc)
        raise


def _release_gates(gh: Any, policy: release_gates.Gates, *, environment: str, head: str,
                   command: str, production: bool) -> rules.Refusal | None:
    """`required_checks` and `require_staging` (gates.py), from what GitHub says of the head."""
    if policy.reads_checks:
        try:
            found = release_gates.ci_checks(gh.latest_check_runs(head), gh.commit_statuses(head))
        except KfopsError as exc:
            if getattr(exc, "status", None) != 403:
                raise
            return rules.Refusal(
                f"kfops cannot read the CI checks of {rules.short(head)} (GitHub answered 403: {exc.what}), so gate "
                f"`required_checks` of {release_gates.WHERE} cannot be checked. Give the deploy job "
                "`permissions: checks: write` (or `checks: read`), or set `required_checks: none`.")
        refusal = release_gates.check_ci(policy, found, sha=head, command=command)
        if refusal:
            return refusal
    if production and policy.require_staging:
        wrote = gh.identity.wrote
        ours = [d for d in gh.deployments(sha=head, environment="staging")
                if release_gates.kfops_deployment(d, wrote)]
        staged_id, last = release_gates.staged(((d, gh.deployment_statuses(int(d["id"]))) for d in ours),
                                               sha=head)
        return release_gates.check_staging(policy, environment=environment, sha=head, staged_id=staged_id,
                                           last_state=last, production=production)
    return None


def _fresh_pull(gh: Any, number: int, sleep: Callable[[float], None]) -> dict[str, Any]:
    """GET the pull request again (its head now, and `mergeable`, computed in the background)."""
    current = dict(gh.get_pull(number))
    for _ in range(MERGEABLE_ATTEMPTS - 1):
        if current.get("mergeable") is not None or current.get("state") != "open":
            break
        sleep(MERGEABLE_WAIT)
        current = dict(gh.get_pull(number))
    return current


def _moved(pinned: str, current: Mapping[str, Any], command: str) -> str:
    now = str((current.get("head") or {}).get("sha") or "?")
    return (f"the pull request head moved from {rules.short(pinned)} to {rules.short(now)} after the command. "
            f"Review the new commits, run `/build_run` on them, then comment `/{command}` again.")


def _may_approve(gh: Any, login: str) -> bool:
    from .authorize import rank

    try:
        return rank(gh.get_permission(login)) >= rank("write")
    except KfopsError:
        return False


class _Deploy:
    """From the chosen run to the end: everything that reads Kubeflow, the cluster, or writes."""

    def __init__(self, context: CommandContext, workspace: Workspace, environment: str,
                 settings: Mapping[str, Any], run: RunRecord, merging: bool, remote: KfpRemote) -> None:
        """`run`: the record rebuilt from KFP (provenance.Verified.record), not the comment's."""
        self.context, self.workspace, self.environment = context, workspace, environment
        self.settings, self.run, self.merging, self.remote = settings, run, merging, remote
        self.github: Any = context.github
        self.report = context.report
        self.head = context.head_sha
        self.model_uri: str | None = None
        self.api: Any = None
        self.deployment_id: int | None = None
        self.result: DeployResult | None = None
        self.touched = False
        self.steps: list[Step] = []

    # -- steps ---------------------------------------------------------------------------------
    def go(self) -> Result:
        from ..deploy import EndpointCheckConfig, HttpEndpointCheck, Timeouts, deploy
        from ..deploy.template import TemplateValues, load_manifest

        command, base = self.context.command, self.context.base
        self.model_uri = self.resolve_model_uri()
        name, namespace = str(self.settings["inference_service"]), str(self.settings["namespace"])
        canary = self.settings.get("canary_percent")
        values = TemplateValues(name, namespace, self.model_uri, 10 if canary is None else int(canary),
                                extra=self._extra_values())
        where = f"deployment.{self.environment}"
        with base_branch_files(self.github, base.ref, base.path, self._needed_files()) as folder:
            with _no_checkout_imports(self.workspace.root):
                manifest = load_manifest(self.settings["template"], folder, values, where=f"{where}.template")
            check_config = EndpointCheckConfig.from_settings(self.settings.get("endpoint_check"), folder,
                                                             where=f"{where}.endpoint_check")
        gate = self.gate(command.force) if rules.production_like(self.environment, self.settings) else None
        if gate is not None and not gate.allowed:
            return Result.of("refused", summary=f"Not deployed to {self.environment}: {gate.text}",
                             details=self._details())
        if gate is not None and gate.forced:
            self.report.warning(gate.text)
        if command.dry_run:
            import yaml

            text = yaml.safe_dump(manifest, sort_keys=False)
            notes = f" {gate.text}" if gate is not None and gate.text and not gate.forced else ""
            return Result.of("succeeded", details=self._details(), logs=[LogBlock("InferenceService", text, "yaml")],
                             summary=f"Dry run: every requirement holds and the InferenceService renders; nothing was "
                                     f"deployed.{notes}")
        current = dict(self.github.get_pull(self.context.pull.number))
        if (current.get("head") or {}).get("sha") != self.head:
            return Result.of("refused", summary=f"Not deployed to {self.environment}: "
                                                + _moved(self.head, current, command.name))
        locked = self.sticky_locked()
        if locked is not None:
            return locked

        self.start_records()
        check = HttpEndpointCheck(check_config) if check_config is not None else None
        self.touched = True
        from ..deploy.errors import LockHeld

        try:
            with interrupts_raise():
                self.result = deploy(self.kube(), environment=self.environment, settings=self.settings,
                                     manifest=manifest, provenance=self._provenance(), check=check,
                                     timeouts=Timeouts.from_settings(self.settings), on_step=self.on_step)
        except LockHeld as exc:  # another deploy is running: a refusal, nothing was changed
            self.failed(exc)
            return Result.of("refused", summary=f"Not deployed to {self.environment}: {exc.what}.",
                             errors=[error_info(exc)])
        return self.succeeded(gate)

    def sticky_locked(self) -> Result | None:
        """A refusal when the freeze is on or someone else holds /lock on the environment (the
        Lease, read now with the deploy credential: the cluster decides, not the labels). Like
        every refusal it comes before the deploy's records: a locked environment gets no GitHub
        deployment and no kfops/deploy status, only the answer in the PR."""
        from ..deploy.errors import LockHeld
        from ..deploy.sticky_lock import StickyLocks

        try:
            StickyLocks(self.kube(), str(self.settings["namespace"])).check(
                self.environment, str(self.settings["inference_service"]), actor=self.context.event.user)
        except LockHeld as exc:
            fix = f" {exc.fix[0].upper()}{exc.fix[1:]}." if exc.fix else ""
            return Result.of("refused", summary=f"Not deployed to {self.environment}: {exc.what}.{fix}",
                             details=self._details())
        return None

    def resolve_model_uri(self) -> str:
        """The run's model artifact, its URI read from ML Metadata (see the module docstring): the
        artifact ids are KFP's, never a status comment's, and no URI is taken from anywhere else."""
        run = self.run
        candidates = rules.model_candidates(run, self.settings.get("model"))
        if isinstance(candidates, rules.Refusal):
            raise KfopsError(candidates.reason.replace("`", ""), exit_code=1,
                             fix="set deployment.<env>.model (task, output) on the base branch")
        everything = [i for outputs in run.artifacts.values() for ids in outputs.values() for i in ids]
        asked = candidates or everything
        if not asked:
            raise KfopsError(f"run {run.run_id} recorded no output artifacts, so there is no model to deploy",
                             fix="the pipeline must output the model as an artifact (Output[Model]); run "
                                 "/build_run again", exit_code=1)
        from ..metrics.config import MetricsConfig
        from ..metrics.mlmd_grpcweb import MlmdClient, MlmdError

        config = MetricsConfig.from_config(self.context.base.data)
        if not config.mlmd_enabled:
            raise KfopsError("cannot find where the model is: metrics.mlmd_endpoint is off, and only ML Metadata "
                             f"knows the location of run {run.run_id}'s artifacts (KFP's API lists their ids)",
                             fix="let kfops reach ML Metadata's grpc-web route (remove metrics.mlmd_endpoint: "
                                 "off)", exit_code=1)
        client = MlmdClient.from_connection(self.connection(), config.mlmd_endpoint)
        try:
            ids = sorted({int(i) for i in asked})
            artifacts = client.artifacts_by_id(ids)
        except ValueError:
            raise KfopsError(f"run {run.run_id}'s record holds artifact ids that are not numbers: {asked}",
                             exit_code=1) from None
        except MlmdError as exc:
            raise KfopsError(f"cannot find where the model of run {run.run_id} is: ML Metadata did not answer "
                             f"({exc.what})", exc.problems,
                             "kfops reads the model's URI from ML Metadata's grpc-web route on the Kubeflow host "
                             "(metrics.mlmd_endpoint overrides it); make it reachable from the runner, then "
                             "comment again", exit_code=1) from None
        if not candidates:
            artifacts = [a for a in artifacts if a.type == MODEL_TYPE]
        uris = sorted({a.uri for a in artifacts if a.uri})
        if len(uris) != 1:
            found = "no model artifact" if not uris else f"{len(uris)} model artifacts ({', '.join(uris)})"
            raise KfopsError(f"run {run.run_id} has {found} that kfops can deploy",
                             fix="name the model output in deployment.<env>.model (task and output) on the base "
                                 "branch", exit_code=1)
        return rules.storage_uri(uris[0])

    def connection(self) -> Any:
        return self.remote.connection

    def kube(self) -> Any:
        if self.api is None:
            self.api = kube_client(self.workspace.env, add_secret=self.context.add_secret)
        return self.api

    def gate(self, force: bool) -> Any:
        """metrics.deploy_gate against the model production serves (its run, from the annotations)."""
        from ..metrics.baseline import production_run_lookup
        from ..metrics.config import MetricsConfig
        from ..metrics.service import deploy_gate, remote_reader

        config = MetricsConfig.from_config(self.context.base.data)
        if not config.gate_enabled:
            return None
        pipeline = (self.context.base.data or {}).get("pipeline") or {}
        live = production_isvc_reader(self.context.base.data, self.kube)
        read = remote_reader(self.connection(), config, pipeline_root=pipeline.get("root"))
        return deploy_gate(self.run.run_id, config, read=read, production=production_run_lookup(live), force=force)

    def start_records(self) -> None:
        """A GitHub deployment (in progress) and kfops/deploy pending on the pinned head; courtesies."""
        env = self.workspace.env
        try:
            self.deployment_id = self.github.create_deployment(
                sha=self.head, environment=self.environment, production=rules.production_like(self.environment, self.settings),
                description=f"run {self.run.run_id} from #{self.context.pull.number}",
                payload={"run_id": self.run.run_id, "pr": self.context.pull.number, "model_uri": self.model_uri},
                key=str(self.context.event.comment_id))
            self.github.set_deployment_status(self.deployment_id, state="in_progress", log_url=_workflow_url(env))
        except KfopsError as exc:
            self.report.warning(f"the GitHub deployment could not be recorded: {exc.what}")
            self.deployment_id = None
        self._status("pending", f"deploying run {self.run.run_id} to {self.environment}")

    def on_step(self, step: Step) -> None:
        self.steps.append(step)
        # a finished canary step's check is shown at once (not throttled): canary_pause may
        # keep the deploy quiet for minutes, and the PR should show how far it got meanwhile
        self.report.update(force=step.name.startswith("endpoint check at "),
                           table=_steps_table(self.steps))

    def succeeded(self, gate: Any) -> Result:
        result = self.result
        assert result is not None
        number = self.context.pull.number
        url = result.url
        if self.deployment_id is not None:
            self._deployment_status("success", url, result.message)
        self._status("success", f"{self.environment}: {result.revision_after or 'deployed'}", url)
        label = rules.label_for(self.environment, self.settings)
        try:
            moved = self.github.move_exclusive_label(label, number, description=f"What {self.environment} serves")
            if moved:
                self.context.log(f"label {label} moved from {', '.join(f'#{n}' for n in moved)}")
        except KfopsError as exc:
            self.report.warning(f"the label {label} could not be set: {exc.what}")
        summary = f"Deployed to {self.environment}: {result.message}."
        if gate is not None and gate.text and not gate.forced:
            summary += f" {gate.text}"
        errors: list[ErrorInfo] = []
        merged = None
        if self.merging:
            try:
                merged = self.github.merge(number, sha=self.head, method=self._merge_method(),
                                           title=f"{self.context.pull.head_ref or 'pull request'} (#{number}), "
                                                 f"deployed to {self.environment}")
                state = dict(self.github.get_pull(number)).get("state")
                if state == "open":
                    self.github.close(number)
                summary += f" Merged ({merged.method}) at {rules.short(self.head)} and closed."
            except KfopsError as exc:
                moved = "moved after the command" in exc.what
                fix = (f"{self.environment} serves the model of {rules.short(self.head)}; the new commits are "
                       "neither trained nor deployed: run `/build_run` on them, then `/deploy` (which merges), or "
                       "merge by hand if they should land without a new model") if moved else (
                    (exc.fix + "; then ") if exc.fix else "") + (
                    f"merge the pull request by hand: {self.environment} already serves the model of "
                    f"{rules.short(self.head)}")
                errors.append(ErrorInfo(
                    exc.what, f"{self.environment} now serves {result.serving} (run {self.run.run_id}, commit "
                              f"{self.head}); the label {label} marks this pull request as what it serves", fix))
        fields = dict(details=self._details(result), table=_steps_table(result.steps),
                      state_data=self._record(result, merged is not None))
        if errors:
            return Result.of("failed", errors=errors, **fields, summary=(
                f"**Deployed to {self.environment}, but the pull request was NOT merged** (see the error below): "
                f"{result.message}."))
        return Result.of("succeeded", summary=summary, **fields)

    def failed(self, exc: KfopsError) -> None:
        """After an error: statuses say so, and the report says what the cluster serves now."""
        from ..deploy.errors import DeployError

        result = exc.result if isinstance(exc, DeployError) and exc.result is not None else None
        serving = self._serving_now(result)
        if self.touched:
            if self.deployment_id is not None:
                self._deployment_status("failure", None, exc.what)
            self._status("failure", f"{self.environment}: {exc.what}")
        changes: dict[str, Any] = {"details": self._details(result, None if self.touched else serving)}
        if result is not None and result.steps:
            changes["table"] = _steps_table(result.steps)
        elif self.steps:
            changes["table"] = _steps_table(self.steps)
        if self.touched:
            changes["summary"] = f"Not deployed to {self.environment}. {self.environment.capitalize()} serves: {serving}."
            changes["state_data"] = self._record(result, False, failed=exc.what, serving=serving)
        self.report.update(force=False, **changes)

    # -- helpers ---------------------------------------------------------------------------------
    def _serving_now(self, result: DeployResult | None) -> str:
        if result is not None and (result.traffic or result.revision_before or result.revision_after) \
                and not (result.steps and result.steps[-1].name == "lock" and not result.steps[-1].ok):
            return result.serving
        if not self.touched:
            return "unchanged"
        try:
            from ..deploy.isvc import IsvcApi
            from ..deploy.kube import Kube
            from ..deploy.readiness import traffic

            obj = IsvcApi(Kube(self.kube())).get(str(self.settings["namespace"]),
                                                 str(self.settings["inference_service"]))
        except KfopsError as exc:
            return f"unknown (could not read it back: {exc.what})"
        if obj is None:
            return "nothing (the InferenceService does not exist)"
        shares = [str(t) for t in traffic(obj) if t.percent]
        return ", ".join(shares) or "unknown (no traffic in its status)"

    def _status(self, state: str, description: str, url: str | None = None) -> None:
        try:
            self.github.set_status(self.head, context=DEPLOY_CONTEXT, state=state, description=description,
                                   target_url=url if url and url.startswith(("http://", "https://")) else
                                   self.report.comment.url)
        except KfopsError as exc:
            self.context.log(f"warning: could not set the {DEPLOY_CONTEXT} status: {exc.what}")

    def _deployment_status(self, state: str, url: str | None, description: str) -> None:
        try:
            self.github.set_deployment_status(self.deployment_id, state=state, environment_url=url,
                                              log_url=_workflow_url(self.workspace.env), description=description)
        except KfopsError as exc:
            self.report.warning(f"the GitHub deployment status could not be set: {exc.what}")

    def _merge_method(self) -> str | None:
        env = self.workspace.env
        configured = env.get("INPUT_MERGE-METHOD") or env.get("INPUT_MERGE_METHOD") or ""
        return configured.strip() or self.settings.get("merge_method") or None

    def _needed_files(self) -> list[str]:
        needed = []
        template = self.settings.get("template")
        if isinstance(template, str):
            needed.append(template.partition(":")[0])
        check = self.settings.get("endpoint_check") or {}
        if check.get("sample"):
            needed.append(str(check["sample"]))
        return needed

    def _extra_values(self) -> dict[str, str]:
        """Only values checked against KFP or GitHub: the images a status comment lists are not
        (KFP does not record them), so a template gets no `image_*` values from it."""
        return {"run_id": self.run.run_id, "commit": self.head, "pr": str(self.context.pull.number)}

    def _provenance(self) -> dict[str, Any]:
        event = self.context.event
        return {"pr": f"{event.repository}#{self.context.pull.number}", "commit": self.head,
                "run_id": self.run.run_id, "actor": event.user, "repository": event.repository,
                "workflow_run": _workflow_url(self.workspace.env), "model_uri": self.model_uri}

    def _details(self, result: DeployResult | None = None, serving: str | None = None) -> list[tuple[str, object]]:
        run = self.run
        details: list[tuple[str, object]] = [
            ("Environment", self.environment),
            ("InferenceService", f"{self.settings['namespace']}/{self.settings['inference_service']}")]
        if not run.run_url:  # else the report's own "Run:" line links it
            details.append(("Run", run.run_id))
        details.append(("Trained on", run.sha))
        if self.model_uri:
            details.append(("Model", self.model_uri))
        if result is not None and result.strategy:
            canary = f", canary {result.canary_percent}%" if result.canary_percent is not None else ""
            if len(result.canary_steps) > 1:
                canary = f", canary steps {' -> '.join(f'{p}%' for p in result.canary_steps)}"
            details.append(("Rollout", f"{result.strategy} ({result.mode} mode{canary})"))
        if result is not None:
            if result.succeeded:
                details.append(("Serving now", result.serving))
            if result.url:
                details.append(("URL", Link(result.url, result.url)))
        if serving is not None:
            details.append(("Serving now", serving))
        return details

    def _record(self, result: DeployResult | None, merged: bool, *, failed: str | None = None,
                serving: str | None = None) -> dict[str, Any]:
        event = self.context.event
        return {"kind": "deploy", "v": 1, "key": str(event.comment_id), "command": self.context.command.name,
                "environment": self.environment, "pr": self.context.pull.number, "requested_by": event.user,
                "sha": self.head, "run_id": self.run.run_id, "run_url": self.run.run_url or None,
                "trained_on": self.run.sha, "model_uri": self.model_uri,
                "isvc": f"{self.settings['namespace']}/{self.settings['inference_service']}",
                "url": result.url if result is not None and result.succeeded else None,
                "revision": result.revision_after if result is not None else None,
                "succeeded": bool(result is not None and result.succeeded and failed is None),
                "rolled_back": bool(result is not None and result.rolled_back),
                "serving": serving if serving is not None else (result.serving if result is not None else None),
                "merged": merged, "error": failed}


def _steps_table(steps: list[Any]) -> Table:
    return Table(["step", "result", "seconds", "detail"],
                 [(s.name, "ok" if s.ok else "FAILED", f"{s.seconds:.1f}", s.detail or "") for s in steps])


def _workflow_url(env: Mapping[str, str]) -> str | None:
    server, repo, run = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


# -- base-branch files ---------------------------------------------------------------------------


@contextlib.contextmanager
def base_branch_files(github: Any, ref: str, config_path: str, files: list[str]) -> Iterator[Path]:
    """A temporary folder standing for the folder of kfops.yaml on the base branch, holding only
    `files` (paths relative to it), read through the contents API: the template and the sample
    are the base branch's, whatever the checked-out pull request contains."""
    folder = posixpath.dirname(config_path.strip("/"))
    with tempfile.TemporaryDirectory(prefix="kfops-base-") as tmp:
        root = Path(tmp) / "base"
        root.mkdir()
        for relative in files:
            path = posixpath.normpath(posixpath.join(folder, relative))
            if path.startswith("../") or path == ".." or posixpath.isabs(relative):
                raise ConfigError(f"{relative!r} is outside the repository",
                                  fix="keep deployment templates and samples inside the repository")
            text = github.get_file_text(path, ref) if ref else None
            if text is None:
                raise ConfigError(f"{path} does not exist on the base branch `{ref}`",
                                  [Problem("named in the deployment settings", f"{config_path}@{ref}")],
                                  "deployment templates and samples are read from the base branch: commit them there")
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        yield root


@contextlib.contextmanager
def _no_checkout_imports(checkout: Path) -> Iterator[None]:
    """A Python-function template (base branch code) must not import modules from the checked-out
    pull request: the checkout (and the working directory, which `python -m` puts first) leave
    sys.path while it runs."""
    drop = {"", ".", os.getcwd(), str(checkout), str(checkout.resolve())}
    saved = list(sys.path)
    sys.path[:] = [p for p in saved if p not in drop]
    try:
        yield
    finally:
        sys.path[:] = saved


__all__ = ["base_branch_files", "handle_deploy", "interrupts_raise", "kube_client"]
