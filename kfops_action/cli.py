"""`kfc`: build, run and validate a kfops pipeline from a terminal.

This module imports only the standard library at the top: `kfc --help` must not pay for kfp,
kubernetes or jsonschema. Each command imports what it uses when it runs.

There is no `kfc deploy`, on purpose: a deploy must leave an audit trail (who, when, which PR), so
it happens through `/deploy` in a pull request.

Exit codes are errors.ExitCode (one table, documented in docs/commands.md); `--output json`
documents are built in cli_output.py; a closed stdout ends quietly (closed_stdout.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from .closed_stdout import guarded
from .errors import ExitCode

EXIT_OK, EXIT_FAILED, EXIT_USAGE = ExitCode.OK, ExitCode.FAILED, ExitCode.BAD_INPUT

DESCRIPTION = """\
kfc compiles, uploads and runs the Kubeflow pipeline described by kfops.yaml.

  kfc build-run --local        run the pipeline on this machine with KFP's local runner
  kfc build-run --wait         upload it to the remote Kubeflow, run it, follow it to its end

Deploys happen only through /deploy in a pull request, so that every release has an audit trail.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, except that with `--output json` a usage error is a JSON document on stdout too:
    a script reading stdout gets `{"error": ...}` whatever went wrong."""

    json_requested = False

    def _print_message(self, message: str, file: Any = None) -> None:
        """argparse's own swallows a closed pipe, so `kfc --help | head -1` would end 0 while every
        other output ends 141 (closed_stdout.py): let it raise like any other write."""
        if message:
            (file or sys.stderr).write(message)

    def error(self, message: str) -> NoReturn:
        if _Parser.json_requested:
            from .cli_output import emit, usage_error_document

            emit(usage_error_document(message, self.prog), sys.stdout)
        super().error(message)


def _wants_json(argv: Sequence[str]) -> bool:
    """Looked up before parsing, so that a usage error can already answer in JSON."""
    pairs = zip(argv, list(argv[1:]) + [""])
    return any(a in ("--output=json", "-ojson") or (a in ("-o", "--output") and b == "json") for a, b in pairs)


def _output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", choices=["text", "json"], default="text",
                        help="text (default) or json: one JSON document on stdout (progress stays on stderr; "
                             "errors are {\"error\": ...} with the same exit code)")


def _config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration")
    group.add_argument("-c", "--config", metavar="PATH", help="config file (default: ./kfops.yaml)")
    group.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                       help="override a pipeline setting, e.g. --set pipeline.parameters.epochs=5 "
                            "(repeatable; the value is read as YAML; only pipeline.* may change)")
    group.add_argument("--config-override", dest="override_files", action="append", default=[],
                       metavar="FILE", type=Path,
                       help="YAML file deep-merged over kfops.yaml (pipeline section only); --set wins")


def _remote_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Kubeflow connection")
    group.add_argument("--endpoint", metavar="URL",
                       help="KFP API endpoint (default: $KF_PIPELINES_ENDPOINT, then kubeflow.endpoint)")
    group.add_argument("--namespace", metavar="NS",
                       help="Kubeflow profile namespace (same as --set pipeline.namespace=NS)")


def _run_options(parser: argparse.ArgumentParser, package: bool) -> None:
    group = parser.add_argument_group("running")
    group.add_argument("--local", action="store_true",
                       help="run on this machine with kfp.local.SubprocessRunner(use_venv=False), offline")
    group.add_argument("--wait", action="store_true",
                       help="follow the remote run to its end; exit non-zero unless it succeeded")
    group.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="with --wait: give up following after this long (the run goes on)")
    group.add_argument("--poll-interval", type=float, default=5.0, metavar="SECONDS",
                       help="with --wait: seconds between status checks (default: 5)")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="with --local: stream the tasks' logs to the terminal")
    group.add_argument("--no-cache", dest="cache", action="store_false",
                       help="with --local: compile and run every task again, ignoring (and not writing) "
                            "the cache of unchanged steps in .kfops/cache")
    if package:
        group.add_argument("--package", type=Path, metavar="FILE",
                           help="run this compiled pipeline YAML instead of compiling pipeline.function")


EPILOG = """\
exit codes:
  0 done    1 the run (or build) failed    2 bad input, nothing started    3 --wait timed out
  4 Kubeflow unreachable or credentials refused    5 (kfc comment) this user may not run it
  141 standard output closed early (kfc ... | head)      see docs/commands.md
"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kfc", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"kfc {_version()}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only results and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check kfops.yaml and that the pipeline compiles",
                       description="Validate kfops.yaml (every error, with its line) and compile the pipeline.")
    _config_options(p)
    _output_option(p)
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("schema", help="print the kfops.yaml JSON Schema (for editors)",
                       description="Print the JSON Schema of kfops.yaml. Point yaml-language-server at it:\n"
                                   "  # yaml-language-server: $schema=kfops.schema.json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(handler=cmd_schema)

    p = sub.add_parser("build", help="compile the pipeline, build images, upload a pipeline version",
                       description="Build configured images, compile the pipeline to IR YAML and upload it as a "
                                   "pipeline version named <commit>-<spec hash> (the same code uploads once).")
    _config_options(p)
    _remote_options(p)
    p.add_argument("--no-upload", action="store_true", help="compile (and build images) only")
    _output_option(p)
    p.set_defaults(handler=cmd_build)

    p = sub.add_parser("run", help="run the pipeline (remote, or --local)",
                       description="Start a run of the pipeline with parameters from kfops.yaml plus overrides, "
                                   "checked against the compiled pipeline's inputs first.")
    _config_options(p)
    _remote_options(p)
    _run_options(p, package=True)
    _output_option(p)
    p.set_defaults(handler=cmd_run, build_images=False)

    p = sub.add_parser("build-run", aliases=["build_run"], help="build, then run",
                       description="kfc build followed by kfc run.")
    _config_options(p)
    _remote_options(p)
    _run_options(p, package=False)
    _output_option(p)
    p.set_defaults(handler=cmd_run, build_images=True, package=None)

    p = sub.add_parser("status", help="show a run on Kubeflow (state, tasks); --wait follows it to its end",
                       description="Read a run from Kubeflow: its state, tasks and the failed task's reason. "
                                   "Exits 0 while it runs or once it succeeded, 1 when it failed or was canceled. "
                                   "--wait follows it to its end, as kfc run --wait does.",
                       epilog="examples:\n"
                              "  kfc status 3f2a9c81-0b6d-4e55-9a1e-6d1c7a0e8b42\n"
                              "  kfc status RUN_ID --wait --timeout 3600 -o json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_id", metavar="RUN_ID", help="the run's id (kfc run prints it; so does the run's page URL)")
    p.add_argument("-c", "--config", metavar="PATH", help="config file, for kubeflow.* (default: ./kfops.yaml)")
    _remote_options(p)
    group = p.add_argument_group("following")
    group.add_argument("--wait", action="store_true", help="follow the run to its end")
    group.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="with --wait: give up following after this long (exit 3; the run goes on)")
    group.add_argument("--poll-interval", type=float, default=5.0, metavar="SECONDS",
                       help="with --wait: seconds between status checks (default: 5)")
    _output_option(p)
    p.set_defaults(handler=cmd_status, sets=[], override_files=[])

    p = sub.add_parser("comment", help="show what the Action would do with a PR comment",
                       description="Parse a pull-request comment exactly as the kfops Action would and print "
                                   "what it would do: the command, its arguments, the permission it needs, "
                                   "whether this user may run it, and the reply it would post. For /build, /run "
                                   "and /build_run it also compiles the pipeline with the comment's --set and "
                                   "checks the parameters, as the Action does before any work. Nothing is "
                                   "run or posted. Exits 0 when the Action would run the command, 2 when it "
                                   "would refuse the comment, 5 when this user may not run it.",
                       epilog='example: kfc comment "/build_run --set pipeline.parameters.epochs=5" '
                              "--user alice --permission write")
    p.add_argument("text", help="the comment, quoted; - reads it from standard input (for multi-line comments)")
    p.add_argument("--user", default=os.environ.get("USER") or "you", metavar="LOGIN",
                   help="who comments (default: $USER)")
    p.add_argument("--permission", default="write", metavar="LEVEL",
                   choices=["none", "read", "triage", "write", "maintain", "admin"],
                   help="their role on the repository: none, read, triage, write, maintain, admin "
                        "(default: write)")
    p.add_argument("--fork", action="store_true", help="the pull request comes from a fork")
    p.add_argument("--team", dest="teams", action="append", default=[], metavar="ORG/TEAM",
                   help="a team the user belongs to (repeatable), for chatops.commands.*.teams")
    p.add_argument("-c", "--config", metavar="PATH",
                   help="kfops.yaml whose chatops section applies, as the Action reads it from the base "
                        "branch, and whose pipeline /build, /run and /build_run compile with the comment's "
                        "--set (default: ./kfops.yaml if present, else the defaults and no pipeline check)")
    p.add_argument("--no-compile", action="store_true",
                   help="skip compiling the pipeline and checking the comment's --set against its parameters")
    p.set_defaults(handler=cmd_comment)

    p = sub.add_parser("init", help="set kfops up in this repository (kfops.yaml, workflows, templates)",
                       description="Scaffold kfops into the current repository: kfops.yaml (commented, with the "
                                   "schema for editors), the GitHub workflows, an InferenceService template, an "
                                   "endpoint-check sample, a cluster setup manifest, and a minimal pipeline when "
                                   "the repository has none. Asks only what it cannot infer (never when standard "
                                   "input is not a terminal); never overwrites a file without --force.",
                       epilog="examples:\n"
                              "  kfc init\n"
                              "  kfc init --endpoint https://kubeflow.example.com/pipeline --namespace team-a --yes\n"
                              "  kfc init --from-kfops          convert an original Kfops layout (config_files/)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, default=Path("."), metavar="PATH",
                   help="repository folder to set up (default: the current folder)")
    p.add_argument("--from-kfops", action="store_true",
                   help="convert an original Kfops layout (config_files/config.yaml, kaniko-manifest.yaml, "
                        "the deployment function) instead of asking")
    p.add_argument("--force", action="store_true", help="overwrite files that already exist")
    p.add_argument("--skip-existing", action="store_true",
                   help="write only the files that do not exist yet, keep the others")
    p.add_argument("-y", "--yes", action="store_true",
                   help="ask nothing: take the flags, what can be inferred, and the defaults")
    p.add_argument("--dry-run", action="store_true", help="print what would be written, write nothing")
    answers = p.add_argument_group("answers (asked when missing and standard input is a terminal)")
    answers.add_argument("--pipeline", metavar="FILE[:FUNCTION]",
                         help="the pipeline (default: the one @dsl.pipeline function found in the repository)")
    answers.add_argument("--name", metavar="NAME", help="pipeline name on Kubeflow (default: the folder's name)")
    answers.add_argument("--endpoint", metavar="URL", help="Kubeflow Pipelines API URL (default: $KF_PIPELINES_ENDPOINT)")
    answers.add_argument("--namespace", metavar="NS", help="Kubeflow profile namespace (multi-user Kubeflow)")
    answers.add_argument("--auth", choices=["token", "cookie", "none"], help="how to authenticate to Kubeflow")
    answers.add_argument("--builder", choices=["none", "docker", "kaniko"],
                         help="image builder (default: kaniko when the repository has Dockerfiles, else none)")
    answers.add_argument("--registry", metavar="PREFIX", help="image registry and prefix, for images.registry")
    answers.add_argument("--build-namespace", metavar="NS", help="namespace of the Kaniko build Jobs")
    answers.add_argument("--production-namespace", metavar="NS", help="namespace /deploy releases to")
    answers.add_argument("--staging-namespace", metavar="NS", help="namespace /staging_deploy releases to")
    answers.add_argument("--no-deploy", action="store_true", help="no deployment section (no /deploy)")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("doctor", help="check the whole setup: config, Kubeflow, cluster, RBAC, registry, GitHub",
                       description="Check everything kfops needs, one line per finding with a verdict (ok, warn, "
                                   "FAIL, skip) and the fix: kfops.yaml, the pipeline, the workflows' permissions, "
                                   "Kubeflow (reachable, credentials, multi-user, namespace), the cluster "
                                   "(kubeconfig, KServe and its default mode, namespaces and service accounts, "
                                   "RBAC through SelfSubjectAccessReview), registry credentials, and the GitHub "
                                   "token when run in the Action. Read-only. Exits 1 when anything a command needs "
                                   "is missing.",
                       epilog="examples:\n"
                              "  kfc doctor\n"
                              "  KUBECONFIG=kfops-sa.kubeconfig kfc doctor --only cluster --only rbac\n"
                              "  kfc doctor --json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", metavar="PATH", help="config file (default: ./kfops.yaml)")
    p.add_argument("--endpoint", metavar="URL",
                   help="KFP API endpoint (default: $KF_PIPELINES_ENDPOINT, then kubeflow.endpoint)")
    p.add_argument("--context", dest="kube_context", metavar="NAME",
                   help="kubeconfig context (default: images.kaniko.kube_context, else the current one)")
    p.add_argument("--only", action="append", default=[], metavar="CHECK",
                   help="run only this check (repeatable): config, pipeline, workflow, kubeflow, namespace, "
                        "cluster, template, model, kserve, namespaces, rbac, registry, github")
    p.add_argument("--skip", action="append", default=[], metavar="CHECK", help="skip this check (repeatable)")
    p.add_argument("--json", action="store_true", help="print the results as JSON (same as --output json)")
    _output_option(p)
    p.set_defaults(handler=cmd_doctor)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


# --- commands ----------------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> Any:
    from .config import find_config, load_config

    sets = list(args.sets)
    if getattr(args, "namespace", None):
        sets.append(f"pipeline.namespace={args.namespace}")
    return load_config(find_config(args.config), sets, args.override_files)


def _reporter(args: argparse.Namespace) -> Any:
    from .report.terminal import TerminalReporter

    return TerminalReporter(quiet=args.quiet)


def _json(args: argparse.Namespace) -> bool:
    return getattr(args, "output", "text") == "json"


def _emit(args: argparse.Namespace, document: dict[str, Any]) -> None:
    from .cli_output import emit

    emit(document, sys.stdout, args._secrets)


def _remote(args: argparse.Namespace, config: Any) -> Any:
    from .kubeflow.connection import resolve_connection
    from .kubeflow.remote import KfpRemote

    conn = resolve_connection(config.section("kubeflow"), namespace=config.pipeline.namespace,
                              endpoint_override=args.endpoint, env=os.environ, base_dir=config.base_dir)
    args._secrets = conn.secrets()
    return KfpRemote(conn)


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from .config.validation import schema

    print(json.dumps(schema(), indent=2))
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from .handlers.build import prepare
    from .handlers.run import run_parameters
    from .report.terminal import table

    reporter = _reporter(args)
    args._on_json_error = lambda error: _validate_failure(args, error)
    config = _load(args)
    reporter.progress(f"{config.path}: configuration is valid")
    built = prepare(config, reporter, images=False)
    rows = run_parameters(config, built)
    if _json(args):
        from .cli_output import validate_document

        _emit(args, validate_document(config, built, rows))
        return EXIT_OK
    reporter.result(f"{config.path} is valid; pipeline {built.package.name} compiles ({built.package.path})")
    reporter.result(table(["parameter", "value", "type", "source"],
                          [(r.name, r.value, r.type_name, r.source) for r in rows]))
    return EXIT_OK


def _validate_failure(args: argparse.Namespace, error: dict[str, Any]) -> dict[str, Any]:
    from .cli_output import validate_failure

    return validate_failure(args.config or "kfops.yaml", error)


def cmd_build(args: argparse.Namespace) -> int:
    from .handlers.pipeline import execute

    reporter = _reporter(args)
    config = _load(args)
    remote = None if args.no_upload else _remote(args, config)
    built = execute("build", config, remote=remote, reporter=reporter).built
    if _json(args):
        from .cli_output import build_document

        _emit(args, build_document(built))
        return EXIT_OK
    reporter.result(f"pipeline package: {built.package.path}")
    if built.version is not None:
        reporter.result(f"pipeline version: {built.version.pipeline_name}/{built.version.version_name} "
                        f"(id {built.version.version_id})")
    for image in built.images:
        reporter.result(f"image {image.name}: {image.reference}" + (f"@{image.digest}" if image.digest else ""))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from .handlers.pipeline import execute
    from .report import terminal

    reporter = _reporter(args)
    config = _load(args)
    if args.local and args.wait:
        reporter.warning("--wait has no effect with --local: a local run always runs to its end")
    if not args.local and not args.cache:
        reporter.warning("--no-cache has effect only with --local: on Kubeflow, pipeline.caching decides")
    remote = None if args.local else _remote(args, config)
    as_json = _json(args)

    def on_started(built: Any, run: Any, parameters: Any) -> None:
        if as_json:  # stdout holds only the final document; the link is news worth having at once
            reporter.progress(f"run started: {run.url}")
            # a --wait that times out (or loses Kubeflow) still names the run it was following
            args._on_json_error = lambda error: {"run_id": run.run_id, "url": run.url, **error}
        else:
            reporter.result(terminal.run_started_report(run, parameters))

    outcome = execute(
        "build_run" if args.build_images else "run", config, remote=remote, reporter=reporter,
        wait=args.wait, timeout=args.timeout, poll_interval=args.poll_interval, package_file=args.package,
        local=args.local, log_stream=sys.stderr if args.verbose else None, on_started=on_started,
        cache=args.cache,
    )
    if as_json:
        _emit(args, _run_document(args, config, outcome, remote))
        return EXIT_OK if outcome.succeeded else EXIT_FAILED
    if outcome.local is not None:
        from .metrics.service import local_run_comparison_text

        reporter.result(terminal.local_run_report(outcome.local, outcome.parameters))
        reporter.result("\n" + local_run_comparison_text(outcome.local, config.section("metrics")))
    if outcome.status is not None:
        reporter.result(terminal.run_finished_report(outcome.status))
        if outcome.status.succeeded:
            from .metrics.service import remote_run_comparison_text

            reporter.result("\n" + remote_run_comparison_text(
                outcome.status.run_id, config.section("metrics"), conn=remote.connection,
                pipeline_root=config.pipeline.root))
    return EXIT_OK if outcome.succeeded else EXIT_FAILED


def _run_document(args: argparse.Namespace, config: Any, outcome: Any, remote: Any) -> dict[str, Any]:
    """The run's document, with the metrics read the way the text report reads them."""
    from .cli_output import metrics_document, run_document
    from .metrics.config import MetricsConfig
    from .metrics.service import compare_local_run, compare_remote_run, remote_reader

    metrics = None
    settings = MetricsConfig.from_config(config.section("metrics"))
    if outcome.local is not None:
        metrics = metrics_document(compare_local_run(outcome.local, settings))
    elif outcome.status is not None and outcome.status.succeeded:
        read = remote_reader(remote.connection, settings, pipeline_root=config.pipeline.root)
        metrics = metrics_document(compare_remote_run(outcome.status.run_id, settings, read=read))
    return run_document("build-run" if args.build_images else "run", outcome, metrics)


def cmd_status(args: argparse.Namespace) -> int:
    """`kfc status RUN_ID`: the run `kfc run` started (or any run), read again; with --wait, the
    follow-up of a `kfc run --wait` that timed out (exit 3)."""
    from .handlers.run import follow
    from .kubeflow.remote import RunRef
    from .report import terminal

    reporter = _reporter(args)
    remote = _remote(args, _load(args))
    status = _read_run(remote, args.run_id)
    url = remote.run_url(status.run_id)
    args._on_json_error = lambda error: {"run_id": status.run_id, "url": url, **error}
    if args.wait and not status.terminal:
        run = RunRef(status.run_id, status.display_name or status.run_id, url, status.experiment_id or "")
        status = follow(run, remote=remote, reporter=reporter, timeout=args.timeout,
                        poll_interval=args.poll_interval)
    if _json(args):
        from .cli_output import status_document

        _emit(args, status_document(status, url))
    else:
        reporter.result(terminal.run_finished_report(status) + f"\n  {url}")
    return EXIT_FAILED if status.terminal and not status.succeeded else EXIT_OK


def _read_run(remote: Any, run_id: str) -> Any:
    """A run id Kubeflow does not know is a typo (bad input, 2), not an outage."""
    from .errors import KfopsError, shown
    from .kubeflow.remote import NotFound

    try:
        return remote.get_run(run_id)
    except NotFound as exc:
        if not exc.from_api:
            raise
        raise KfopsError(f"Kubeflow has no run {shown(run_id)} (in namespace {remote.connection.namespace or '-'})",
                         fix="copy the id from `kfc run` or from the run's page URL (…/#/runs/details/RUN_ID); "
                             "--namespace picks the profile namespace") from None


def cmd_comment(args: argparse.Namespace) -> int:
    from .chatops.preview import decide, find_comment_config

    text = sys.stdin.read() if args.text == "-" else args.text
    base = find_comment_config(args.config)
    config_path = Path(args.config) if args.config else Path("kfops.yaml")
    result = decide(text, user=args.user, level=args.permission, fork=args.fork, teams=args.teams, base=base,
                    config_path=config_path, check=not args.no_compile)
    print(result.text)
    return result.exit_code


def cmd_init(args: argparse.Namespace) -> int:
    from .onboarding.init import main as init_main

    return init_main(args, stdin=sys.stdin, out=sys.stdout)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .onboarding.doctor import CHECK_NAMES, main as doctor_main

    unknown = sorted(set(args.only + args.skip) - set(CHECK_NAMES))
    if unknown:
        print(f"error: unknown check(s) {', '.join(unknown)}; the checks are: {', '.join(CHECK_NAMES)}",
              file=sys.stderr)
        return EXIT_USAGE
    return doctor_main(env=dict(os.environ), cwd=Path.cwd(), config_path=args.config, endpoint=args.endpoint,
                       kube_context=args.kube_context, only=args.only, skip=args.skip,
                       as_json=args.json or _json(args),
                       out=sys.stdout)


# --- entry point -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """kfc's exit code (errors.ExitCode). A reader that closes stdout early (`| head`) ends it
    quietly with 141 instead of a BrokenPipeError traceback."""
    return guarded(lambda: _main(sys.argv[1:] if argv is None else list(argv)))


def _main(argv: list[str]) -> int:
    _Parser.json_requested = _wants_json(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    handler: Callable[[argparse.Namespace], int] = args.handler
    args._secrets = []
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:
        from .errors import KfopsError, exit_code_of

        if not isinstance(exc, KfopsError):
            raise
        code = exit_code_of(exc)
        text = str(exc)
        for secret in args._secrets:
            if secret:
                text = text.replace(secret, "***")
        print(f"error: {text}", file=sys.stderr)
        if _json(args):
            from .cli_output import error_document

            document = error_document(exc, code)
            on_error = getattr(args, "_on_json_error", None)
            _emit(args, on_error(document) if on_error is not None else document)
        return code


if __name__ == "__main__":
    sys.exit(main())
