"""What a user waits for, per runtime of the Action: from the moment kfops' step starts (job
setup excluded: the runner's download of the action and the job container) to the eyes reaction
on the comment, cold and warm; and the image's compressed size and its load-to-first-request time.

    .venv/bin/python benchmarks/bench_action_runtimes.py     # writes benchmarks/results_action_runtimes.json

It runs the user's workflow (workflows/kfops.yml) with act, each job in a container of the e2e
runner image, against the fake GitHub on loopback, exactly as tests/test_action_e2e.py does; the
comment is `/help` (the chat job), so what is timed is the Action's own start, not a pipeline.

- python, cold: an empty actions/cache store: the job creates the environment and pip installs the
  pinned lock (from the package index: this is the network cost a first job pays).
- python, warm: the store holds the environment saved by the cold job: restored, nothing installed.
- docker, warm: the image is on the runner (a self-hosted runner that ran the action before).
- docker, cold: the image is not on the runner. It cannot be pulled here (no registry); it is
  loaded from its compressed archive (`docker save | gzip`, the same bytes a pull transfers), which
  stands for the extraction half of a pull. The transfer half is size / bandwidth: the JSON holds
  the size so the reader can add it for their runner (e.g. 1 Gbit/s).

Timing: act's output is read line by line as it arrives and stamped with time.monotonic(); the
fake GitHub stamps each request with the same clock. Each case runs --repeat times (median kept,
all samples written). A measurement, not a test: it exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from e2e import engine, webhooks  # noqa: E402
from e2e.act import Act, act_binary  # noqa: E402
from e2e.repos import base_config, make_repository  # noqa: E402
from e2e.runtime import pinned_action_dir  # noqa: E402

OWNER, REPO, PR = "kfops-org", "model", 7
TOKEN = "ghs_kfopsBenchToken0000111122223333444455"
STEP_START = "⭐ Run Main kfops"          # the workflow's kfops step begins (after job setup)
STEP_DONE = re.compile(r"Success - Main (.+?) \[((?:\d+h)?(?:\d+m)?[\d.]+(?:ms|µs|s))\]")


ACTION_STEPS = {"Prepare kfops": "prepare", "Restore kfops' environment": "cache restore",
                "Install kfops (runner's Python)": "install", "Save kfops' environment": "cache save",
                "kfops": "kfops (the program)"}


def _seconds(text: str) -> float:
    """A Go duration as act prints it (1m2.5s, 850.1ms)."""
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(h|ms|µs|m|s)", text):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "µs": 1e-6}[unit]
    return total


class TimedAct(Act):
    """act, with each line of its output stamped as it arrives."""

    def run_timed(self, clone: Path, payload: dict[str, Any], *, scratch: Path) -> tuple[float | None, int, str]:
        """When the kfops step started (monotonic), act's exit code, and its output."""
        workflow = clone / ".github" / "workflows" / "kfops.yml"
        command, env = self.invocation(workflow, "issue_comment", payload, actor="dave", scratch=scratch)
        started: float | None = None
        lines: list[str] = []
        with subprocess.Popen(command, cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if started is None and STEP_START in line:
                    started = time.monotonic()
                lines.append(line)
            code = proc.wait()
        return started, code, "".join(lines)


def _eyes_at(github: Any, since: int) -> float | None:
    for record in github.requests[since:]:
        if record.method == "POST" and record.path.endswith("/reactions") and (record.body or {}).get("content") == "eyes":
            return record.at
    return None


def measure(act: TimedAct, github: Any, clone: Path, scratch: Path, n: int) -> tuple[float, dict[str, float]]:
    """Seconds from the kfops step's start to the eyes reaction, and each step's duration as act
    reports it (the action's own steps: Prepare, Restore, Install, Save, kfops)."""
    comment_id = github.add_comment(PR, "/help", user="dave")
    payload = webhooks.issue_comment("created", api_url=github.api, web_url=github.web, owner=OWNER, repo=REPO,
                                     number=PR, comment_id=comment_id, body="/help", user="dave",
                                     pull_request=True)
    before = len(github.requests)
    started, code, log = act.run_timed(clone, payload, scratch=scratch / f"run-{n}")
    eyes = _eyes_at(github, before)
    if code != 0 or started is None or eyes is None:
        raise RuntimeError(f"act exited {code}; step start {started}, eyes {eyes}\n{log[-4000:]}")
    steps: dict[str, float] = {}
    for name, took in STEP_DONE.findall(log):
        if name in ACTION_STEPS:
            # "kfops" twice: the action's last step (the program), then the workflow's step (all of it)
            steps[ACTION_STEPS[name] if ACTION_STEPS[name] not in steps else "action (all steps)"] = round(
                _seconds(took), 3)
    return eyes - started, steps


def image_figures(image: str, scratch: Path) -> dict[str, Any]:
    """Compressed size (what a pull transfers) and load + start to the first request."""
    archive = scratch / "image.tar.gz"
    with gzip.open(archive, "wb", compresslevel=6) as out:
        saved = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE,
                                 env={**os.environ, "DOCKER_HOST": engine.engine()})
        assert saved.stdout is not None
        shutil.copyfileobj(saved.stdout, out)
        saved.wait()
    size = archive.stat().st_size
    inspect = engine.docker("image", "inspect", "--format", "{{.Size}}", image).stdout.strip()
    return {"compressed_bytes": size, "compressed_mb": round(size / 1e6, 1),
            "uncompressed_mb": round(int(inspect) / 1e6, 1), "archive": str(archive)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results_action_runtimes.json")
    args = parser.parse_args(argv)

    from fakes.fake_github import FakeGitHub

    binary = act_binary()
    if binary is None:
        print("act is not installed: pip install -e '.[test]'", file=sys.stderr)
        return 1
    host = engine.engine()
    image = engine.kfops_image()
    action = pinned_action_dir(image)
    scratch = Path(tempfile.mkdtemp(prefix="kfops-bench-runtimes-"))
    github = FakeGitHub(token=TOKEN, owner=OWNER, repo=REPO).start()
    results: dict[str, Any] = {"cases": {}}
    try:
        repo = make_repository(scratch, owner=OWNER, name=REPO, kubeflow_endpoint="http://127.0.0.1:9")
        repo.add_pull(PR, "tune the model")
        github.add_pull(PR, head_sha=repo.heads[PR], user="alice")
        github.add_file("kfops.yaml", base_config("http://127.0.0.1:9"), ref="main")
        github.set_permission("dave", "read")

        def act_for(runtime: str, cache: Path) -> TimedAct:
            cache.mkdir(parents=True, exist_ok=True)
            return TimedAct(binary, action, scratch / "xdg", host, engine.runner_image(),
                            shared={"KFOPS_E2E_CACHE_ROOT": cache, "KFOPS_E2E_GIT_ROOT": repo.git_root},
                            secrets={"GITHUB_TOKEN": TOKEN}, variables={"KFOPS_RUNTIME": runtime},
                            env={"GITHUB_API_URL": github.url})

        n = 0
        for case, runtime in (("python_cold", "python"), ("python_warm", "python"), ("docker_warm", "docker")):
            samples, steps = [], []
            for i in range(args.repeat):
                n += 1
                cache = scratch / (f"cache-cold-{i}" if case == "python_cold" else "cache-warm")
                act = act_for(runtime, cache)
                if case == "python_warm" and i == 0:
                    measure(act, github, repo.clone, scratch, n)  # fills the store, untimed
                    n += 1
                took, step_times = measure(act, github, repo.clone, scratch, n)
                samples.append(round(took, 3))
                steps.append(step_times)
                print(f"{case}: {samples[-1]} s {step_times}", flush=True)
            results["cases"][case] = {
                "median_s": statistics.median(samples), "samples_s": samples,
                "steps_median_s": {name: statistics.median(s[name] for s in steps if name in s)
                                   for name in steps[0]}}
        results["image"] = image_figures(image, scratch)
        samples = []
        for i in range(args.repeat):
            samples.append(round(pull_to_first_request(results["image"]["archive"], github, scratch / f"pull-{i}"), 3))
            print(f"image load to first request: {samples[-1]} s", flush=True)
        results["cases"]["image_load_to_first_request"] = {"median_s": statistics.median(samples),
                                                           "samples_s": samples}
        engine._state.pop("image", None)
        engine.kfops_image()  # the image the tests use, back under its name and digest
    finally:
        github.stop()
    results["image"].pop("archive", None)
    results.update(
        date=time.strftime("%Y-%m-%d"), python=platform.python_version(), platform=platform.platform(),
        cpus=os.cpu_count(), image=results["image"],
        measured="kfops step start -> eyes reaction on a /help comment (job setup excluded)",
        note=("image_load_to_first_request: the image absent, `docker load` of its compressed archive, then "
              "the action's container script (scripts/run-action-container.sh) to the first GitHub request; "
              "a pull also transfers compressed_bytes over the network. A cold docker job waits about "
              "docker_warm + image_load_to_first_request - (container start) + transfer."))
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v["median_s"] for k, v in results["cases"].items()}, indent=2))
    print(f"image: {results['image']}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


def pull_to_first_request(archive: str, github: Any, scratch: Path) -> float:
    """The image removed, then loaded from its compressed archive and run by the action's own
    container script for a /help event, to the eyes reaction."""
    scratch.mkdir(parents=True)
    for line in engine.docker("images", "--quiet", "--filter", f"reference={engine.KFOPS_REPOSITORY}").stdout.split():
        engine.docker("image", "rm", "--force", line, check=False)
    comment_id = github.add_comment(PR, "/help", user="dave")
    event = scratch / "event.json"
    event.write_text(json.dumps(webhooks.issue_comment(
        "created", api_url=github.api, web_url=github.web, owner=OWNER, repo=REPO, number=PR,
        comment_id=comment_id, body="/help", user="dave", pull_request=True)), encoding="utf-8")
    before = len(github.requests)
    started = time.monotonic()
    # Decompressed here and streamed in (the engine's load takes a plain tar): both halves of a
    # pull's local work, decompression and extraction, are inside the timing.
    with gzip.open(archive) as raw, subprocess.Popen(
            ["docker", "load", "--quiet"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "DOCKER_HOST": engine.engine()}) as load:
        assert load.stdin is not None
        shutil.copyfileobj(raw, load.stdin)
        out, err = load.communicate(timeout=600)  # closes stdin: the end of the archive
    if load.returncode != 0:
        raise RuntimeError(f"docker load failed: {err.decode()[-2000:]}")
    image = out.decode().strip().split()[-1]
    env = {**os.environ, "DOCKER_HOST": engine.engine(), "KFOPS_IMAGE": image, "GITHUB_EVENT_PATH": str(event),
           "GITHUB_EVENT_NAME": "issue_comment", "GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": f"{OWNER}/{REPO}",
           "RUNNER_TEMP": str(scratch), "INPUT_GITHUB-TOKEN": TOKEN}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "run-action-container.sh")], env=env,
                          capture_output=True, text=True, timeout=300)
    eyes = _eyes_at(github, before)
    if done.returncode != 0 or eyes is None:
        raise RuntimeError(f"the container exited {done.returncode}, eyes {eyes}: {done.stderr[-3000:]}")
    return eyes - started


if __name__ == "__main__":
    sys.exit(main())
