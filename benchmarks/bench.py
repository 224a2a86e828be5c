#!/usr/bin/env python3
"""Measure kfc against a peer in the same run, on the same machine, and write benchmarks/results.json.

Two measurements, each a ratio against a peer so that the machine's speed cancels out:

(a) ``kfc --help`` vs ``kfp --help`` (KFP's own CLI, same venv): start-up cost. ``kfc`` must not
    import kfp or kubernetes on that path. Target: ratio <= 0.25.
(b) ``kfc build-run --local --no-cache -c examples/quickstart/kfops.yaml`` vs a plain Python script
    that does the same with kfp directly (compile to YAML, load it back, run it with KFP's local
    SubprocessRunner). This is kfops' overhead on the development loop. Target: ratio <= 1.15.
(c) The second, unchanged ``kfc build-run --local`` (its cache filled by the untimed warm-up run)
    vs the same plain kfp script, which has no cache: what repeating a run costs. Run in a copy of
    the example, so that it starts from an empty cache. Target: ratio <= 0.2 (5x faster).

Both sides of a pair run as fresh processes, interleaved (alternating which goes first), and the
median is reported. The script always exits 0 when every command ran: missing a target is a result,
printed as MISSED. It exits 1 only when a command failed (then there is nothing to measure).

Usage: .venv/bin/python benchmarks/bench.py [--repeat 15] [--run-repeat 5] [--only help|run|cached]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICKSTART_CONFIG = REPO_ROOT / "examples" / "quickstart" / "kfops.yaml"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"
BIN_DIR = Path(sys.executable).parent  # console scripts of this venv live next to its python

HELP_TARGET = 0.25
RUN_TARGET = 1.15
CACHED_RUN_TARGET = 0.2


class CommandFailed(RuntimeError):
    """A measured command exited non-zero: its timing would be meaningless."""


def run_timed(command: Sequence[str], cwd: Path) -> float:
    """Wall time of one fresh process, output discarded (but kept for the error message)."""
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        tail = (completed.stderr or completed.stdout).decode(errors="replace").strip().splitlines()[-15:]
        raise CommandFailed(
            f"`{' '.join(command)}` exited {completed.returncode}:\n    " + "\n    ".join(tail)
        )
    return elapsed


def compare(name: str, subject: Sequence[str], peer: Sequence[str], repeat: int, target: float,
            warmup: int = 1, cwd: Path = REPO_ROOT) -> dict[str, Any]:
    """Time subject and peer ``repeat`` times each, interleaved, after ``warmup`` untimed runs each.

    Interleaving (and alternating the order) spreads drift, such as CPU frequency or a noisy
    neighbour, over both sides instead of biasing one of them.
    """
    for _ in range(warmup):  # page cache, .pyc files (and, for (c), kfc's local cache)
        run_timed(subject, cwd)
        run_timed(peer, cwd)
    samples: dict[str, list[float]] = {"subject": [], "peer": []}
    for i in range(repeat):
        order = [("subject", subject), ("peer", peer)]
        if i % 2:
            order.reverse()
        for side, command in order:
            samples[side].append(run_timed(command, cwd))
    subject_median = statistics.median(samples["subject"])
    peer_median = statistics.median(samples["peer"])
    ratio = subject_median / peer_median
    return {
        "name": name,
        "subject": list(subject),
        "peer": list(peer),
        "repeat": repeat,
        "warmup": warmup,
        "median_s": {"subject": round(subject_median, 4), "peer": round(peer_median, 4)},
        "samples_s": {side: [round(s, 4) for s in values] for side, values in samples.items()},
        "ratio": round(ratio, 4),
        "target": f"<= {target}",
        "met": ratio <= target,
    }


def console_script(name: str) -> str:
    """Path of a console script in this venv (not whatever is first on PATH)."""
    path = BIN_DIR / name
    if not path.exists():
        raise CommandFailed(f"{path} not found: install the project into this venv (pip install -e .)")
    return str(path)


def baseline_local_run(config_path: Path) -> None:
    """What ``kfc build-run --local`` does, written with kfp alone: the peer of measurement (b).

    Reads the same kfops.yaml (pipeline file, function, parameters) so both sides run the same
    pipeline with the same arguments; imports happen here, inside the timed process.
    """
    import importlib.util

    import yaml
    from kfp import compiler, components, local

    pipeline = yaml.safe_load(config_path.read_text())["pipeline"]
    spec = importlib.util.spec_from_file_location("bench_pipeline", config_path.parent / pipeline["file"])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with tempfile.TemporaryDirectory(prefix="kfops-bench-") as workdir:
        package = Path(workdir) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline_func=getattr(module, pipeline["function"]),
                                    package_path=str(package))
        pipeline_component = components.load_component_from_file(str(package))
        local.init(runner=local.SubprocessRunner(use_venv=False),
                   pipeline_root=str(Path(workdir) / "outputs"))
        pipeline_component(**pipeline.get("parameters", {}))


def environment() -> dict[str, Any]:
    """What the numbers depend on; recorded next to them."""
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "kfp": version("kfp"),
        "kfops": version("kfops"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }


def print_table(results: list[dict[str, Any]]) -> None:
    header = f"{'benchmark':<24} {'kfc (s)':>9} {'peer (s)':>9} {'ratio':>7} {'target':>8}  result"
    print(header)
    print("-" * len(header))
    for r in results:
        verdict = "met" if r["met"] else "MISSED"
        print(f"{r['name']:<24} {r['median_s']['subject']:>9.3f} {r['median_s']['peer']:>9.3f} "
              f"{r['ratio']:>7.3f} {r['target']:>8}  {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per side for `--help` (default 15)")
    parser.add_argument("--run-repeat", type=int, default=5,
                        help="runs per side for the local build-run (default 5)")
    parser.add_argument("--only", choices=["help", "run", "cached"], help="run one measurement only")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON file")
    parser.add_argument("--baseline-local-run", type=Path, metavar="KFOPS_YAML", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.baseline_local_run:  # the peer process of measurement (b)
        baseline_local_run(args.baseline_local_run)
        return 0

    results: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    if args.only in (None, "help"):
        try:
            results.append(compare("cli_help", [console_script("kfc"), "--help"],
                                   [console_script("kfp"), "--help"], args.repeat, HELP_TARGET))
        except CommandFailed as error:
            errors["cli_help"] = str(error)
    if args.only in (None, "run"):
        config = str(QUICKSTART_CONFIG.relative_to(REPO_ROOT))
        try:
            results.append(compare(
                "local_build_run",
                [console_script("kfc"), "build-run", "--local", "--no-cache", "-c", config],
                [sys.executable, str(Path(__file__).resolve()), "--baseline-local-run", config],
                args.run_repeat, RUN_TARGET))
        except CommandFailed as error:
            errors["local_build_run"] = str(error)
        else:
            # The peer never caches. If kfc reused steps here (kfp.local's cache, or its own despite
            # --no-cache), the ratio flatters it: say so next to the number.
            cache_dirs = sorted((QUICKSTART_CONFIG.parent / ".kfops").rglob(".kfp_cache"))
            results[-1]["kfc_local_cache_seen"] = bool(cache_dirs)
            if cache_dirs:
                print(f"note: kfc left a kfp.local cache in {cache_dirs[0]}: local_build_run is not "
                      "like-for-like (the peer runs every step)", file=sys.stderr)

    if args.only in (None, "cached"):
        with tempfile.TemporaryDirectory(prefix="kfops-bench-cache-") as workdir:
            import shutil

            project = Path(workdir) / "quickstart"  # an empty cache, filled by the warm-up run
            shutil.copytree(QUICKSTART_CONFIG.parent, project, ignore=shutil.ignore_patterns(".kfops"))
            config = str(project / QUICKSTART_CONFIG.name)
            try:
                results.append(compare(
                    "local_build_run_cached",
                    [console_script("kfc"), "build-run", "--local", "-c", config],
                    [sys.executable, str(Path(__file__).resolve()), "--baseline-local-run", config],
                    args.run_repeat, CACHED_RUN_TARGET, cwd=project))
                # what was timed must have been a full cache hit, or the name would lie
                check = subprocess.run([console_script("kfc"), "build-run", "--local", "-c", config],
                                       cwd=project, capture_output=True, text=True)
                results[-1]["all_tasks_cached"] = "(3 of 3 tasks cached" in check.stdout
                if not results[-1]["all_tasks_cached"]:
                    print("note: the cached run did not reuse every task: see `kfc build-run --local` "
                          f"in a copy of the example\n{check.stdout[-2000:]}{check.stderr[-2000:]}",
                          file=sys.stderr)
            except CommandFailed as error:
                errors["local_build_run_cached"] = str(error)

    report = {"environment": environment(), "results": {r["name"]: r for r in results}, "errors": errors}
    args.output.write_text(json.dumps(report, indent=2) + "\n")

    env = report["environment"]
    print(f"python {env['python']}, kfp {env['kfp']}, {env['cpu_count']} CPUs, {env['date']}")
    if results:
        print_table(results)
    for name, message in errors.items():
        print(f"ERROR in {name}: {message}", file=sys.stderr)
    missed = [r["name"] for r in results if not r["met"]]
    if missed:
        print(f"MISSED target(s): {', '.join(missed)}")
    print(f"wrote {args.output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
