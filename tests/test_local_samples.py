"""`kfc build-run --local` on one small pipeline per KFP feature, against raw kfp.local.

Each sample in tests/samples/ (README there: what it mirrors) runs as a user runs it: `kfc` as a
subprocess in a project of its own, and, beside it, the same pipeline function with raw
`kfp.local.SubprocessRunner(use_venv=False)`. The tests read kfc's printed report the way a user
reads it (its tables) and check it says what the run did: every loop iteration, the branches
taken and not taken, nested pipelines' tasks, the pipeline's own outputs, metrics values rather
than paths to files that do not exist, and, where raw kfp.local fails, a failure that is no worse.

Runs are shared through module-scoped fixtures (each kfp.local run takes seconds).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import pytest

from conftest import kfc

SAMPLES = Path(__file__).resolve().parent / "samples"


# -- reading kfc's report as a user does ---------------------------------------------------------------


def tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Every table in kfc's output, keyed by its first header, as rows of {header: cell}.

    Columns are cut where the dashed rule under the headers says, so cells may hold spaces.
    """
    lines = text.splitlines()
    found: dict[str, list[dict[str, str]]] = {}
    for i in range(1, len(lines)):
        rule = lines[i]
        if not rule or set(rule.replace(" ", "")) != {"-"}:
            continue
        spans = [m.span() for m in re.finditer(r"-+", rule)]
        spans[-1] = (spans[-1][0], 10_000)
        headers = [lines[i - 1][a:b].strip() for a, b in spans]
        rows = []
        for line in lines[i + 1:]:
            if not line.strip() or line.startswith(" "):
                break  # a blank line, or an indented note under the table
            rows.append({h: line[a:b].strip() for h, (a, b) in zip(headers, spans)})
        found[headers[0] + ("/" + headers[1] if headers[0] == "task" else "")] = rows
    return found


@dataclass(frozen=True)
class KfcRun:
    result: subprocess.CompletedProcess[str]
    project: Path

    @property
    def tables(self) -> dict[str, list[dict[str, str]]]:
        return tables(self.result.stdout)

    @property
    def outputs(self) -> list[tuple[str, str, str]]:
        """(task, output, value) rows of the outputs table."""
        return [(r["task"], r["output"], r["value"]) for r in self.tables.get("task/output", [])]

    @property
    def not_run(self) -> dict[str, str]:
        return {r["task"]: r["not run because"] for r in self.tables.get("task/not run because", [])}

    @property
    def pipeline_outputs(self) -> dict[str, str]:
        return {r["pipeline output"]: r["value"] for r in self.tables.get("pipeline output", [])}

    @property
    def outputs_dir(self) -> Path:
        match = re.search(r"^  outputs: (.+)$", self.result.stdout, re.M)
        assert match, self.result.stdout + self.result.stderr
        return Path(match.group(1))


def make_project(tmp: Path, sample: str, function: str, parameters: dict[str, Any] | None = None) -> Path:
    project = tmp / sample
    project.mkdir(parents=True)
    shutil.copy(SAMPLES / f"{sample}.py", project / f"{sample}.py")
    config = f"version: 1\npipeline:\n  file: {sample}.py\n  function: {function}\n"
    if parameters:
        config += "  parameters:\n" + "".join(f"    {k}: {json.dumps(v)}\n" for k, v in parameters.items())
    (project / "kfops.yaml").write_text(config)
    return project


@pytest.fixture(scope="module")
def run_kfc(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., KfcRun]:
    """`kfc build-run --local [--set ...]` in a fresh project per (sample, arguments); memoized."""
    runs: dict[tuple[Any, ...], KfcRun] = {}

    def run(sample: str, function: str, *sets: str) -> KfcRun:
        key = (sample, function, sets)
        if key not in runs:
            project = make_project(tmp_path_factory.mktemp("kfc"), sample, function)
            args = [a for s in sets for a in ("--set", f"pipeline.parameters.{s}")]
            runs[key] = KfcRun(kfc("build-run", "--local", *args, cwd=project, timeout=300), project)
        return runs[key]

    return run


# -- raw kfp.local --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawRun:
    outputs: dict[str, Any] | None  # the pipeline task's outputs; None when it raised
    error: str
    run_dir: Path | None

    def parameter_values(self) -> Counter[tuple[str, str]]:
        """Every (output, value) parameter any task wrote, the value as kfc prints it."""
        from kfops_action.report.terminal import _cell

        assert self.run_dir is not None
        values: Counter[tuple[str, str]] = Counter()
        for record in self.run_dir.glob("**/executor_output.json"):
            for name, value in (json.loads(record.read_text()).get("parameterValues") or {}).items():
                values[(name, _cell(value))] += 1
        return values


def load(sample: str) -> ModuleType:
    """A sample by its path under tests/samples without `.py` (kfc imports pipelines by path too)."""
    spec = importlib.util.spec_from_file_location("sample_" + sample.replace("/", "_"), SAMPLES / f"{sample}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run_raw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RawRun]]:
    """The same pipeline function with raw kfp.local, as its documentation shows; memoized."""
    from kfp import local
    from kfp.local import config as local_config

    runs: dict[tuple[Any, ...], RawRun] = {}

    def run(sample: str, function: str, **arguments: Any) -> RawRun:
        key = (sample, function, tuple(sorted(arguments.items())))
        if key not in runs:
            root = tmp_path_factory.mktemp("raw")
            local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
            try:
                task = getattr(load(sample), function)(**arguments)
                outputs, error = dict(task.outputs), ""
            except Exception as exc:  # what a user of raw kfp.local sees
                outputs, error = None, re.sub(r"\x1b\[[0-9;]*m", "", f"{type(exc).__name__}: {exc}")
            dirs = [p for p in root.iterdir() if p.is_dir()]
            runs[key] = RawRun(outputs, error, dirs[0] if dirs else None)
        return runs[key]

    yield run
    local_config.LocalExecutionConfig.instance = None  # kfp.local is a process-wide singleton


def assert_same_values_as_raw(kfc_run: KfcRun, raw: RawRun) -> None:
    """Nothing kfp.local produced is missing from kfc's outputs table (and nothing is invented)."""
    assert kfc_run.result.returncode == 0, kfc_run.result.stderr
    expected = raw.parameter_values()
    names = {name for name, _ in expected}
    assert Counter((output, value) for _, output, value in kfc_run.outputs if output in names) == expected


# -- control flow ---------------------------------------------------------------------------------------


def test_conditions_show_the_branch_taken_and_the_ones_not_taken(run_kfc: Callable[..., KfcRun],
                                                                 run_raw: Callable[..., RawRun]) -> None:
    run = run_kfc("conditions", "conditions_pipeline")
    assert run.result.returncode == 0, run.result.stderr
    # Tasks under the names the pipeline gave them (set_display_name), not their component's.
    assert sorted(run.outputs) == [("above", "Output", "0.9 is above the threshold"),
                                   ("announce-heads", "Output", "it was heads"), ("flip", "Output", "heads")]
    tasks = [task for task, _, _ in run.outputs]
    assert tasks.index("flip") < tasks.index("announce-heads")  # in the order they ran
    assert run.not_run == {"announce-tails": "its condition was false",
                           "announce-edge": "its condition was false"}
    assert "fail" not in run.result.stdout.lower()
    assert_same_values_as_raw(run, run_raw("conditions", "conditions_pipeline"))


def test_a_named_condition_that_is_false_is_named(run_kfc: Callable[..., KfcRun]) -> None:
    run = run_kfc("conditions", "conditions_pipeline", "seed=2", "score=0.1")
    assert run.result.returncode == 0, run.result.stderr
    assert [task for task, _, _ in run.outputs] == ["flip", "announce-tails"]
    assert run.not_run == {"announce-heads": "its condition was false",
                           "announce-edge": "its condition was false",
                           "above": "its condition 'score-high' was false"}


def test_every_loop_iteration_has_its_own_row_in_order(run_kfc: Callable[..., KfcRun],
                                                       run_raw: Callable[..., RawRun]) -> None:
    run = run_kfc("loops", "loops_pipeline")
    assert sorted(run.outputs) == [("make-sizes", "Output", "[10,20,30]"),
                                   ("shout[0]", "Output", "A"), ("shout[1]", "Output", "B"),
                                   ("square[0]", "Output", "100"), ("square[1]", "Output", "400"),
                                   ("square[2]", "Output", "900")], run.result.stdout
    # Independent steps may run in either order; one loop's iterations stay together, in order.
    tasks = [task for task, _, _ in run.outputs]
    for loop, count in (("shout", 2), ("square", 3)):
        first = tasks.index(f"{loop}[0]")
        assert tasks[first:first + count] == [f"{loop}[{i}]" for i in range(count)], tasks
    assert run.not_run == {}
    assert_same_values_as_raw(run, run_raw("loops", "loops_pipeline"))


def test_a_loop_over_an_empty_list_says_its_tasks_did_not_run(run_kfc: Callable[..., KfcRun]) -> None:
    run = run_kfc("loops", "loops_pipeline", "count=0")
    assert run.result.returncode == 0, run.result.stderr
    assert ("make-sizes", "Output", "[]") in run.outputs
    assert run.not_run == {"square": "its ParallelFor had no items"}


def test_fan_in_reports_each_iteration_and_the_collected_result(run_kfc: Callable[..., KfcRun],
                                                                run_raw: Callable[..., RawRun]) -> None:
    run = run_kfc("fan_in", "fan_in_pipeline")
    raw = run_raw("fan_in", "fan_in_pipeline")
    assert_same_values_as_raw(run, raw)
    rows = {(task, output): value for task, output, value in run.outputs}
    assert [rows[(f"double[{i}]", "Output")] for i in range(3)] == ["2", "4", "6"]
    for i in range(3):  # each iteration's artifact is its own file, with that iteration's content
        part = run.outputs_dir / rows[(f"write-part[{i}]", "part")]
        assert part.read_text() == f"part {i + 1}\n"
    assert rows[("concat", "Output")] == "3"
    merged = (run.outputs_dir / rows[("concat", "merged")]).read_text()
    assert sorted(merged.splitlines()) == ["part 1", "part 2", "part 3"]
    assert run.pipeline_outputs == {"Output": "12"}
    assert raw.outputs == {"Output": 12}


def test_nested_pipeline_tasks_and_outputs(run_kfc: Callable[..., KfcRun], run_raw: Callable[..., RawRun]) -> None:
    run = run_kfc("nested", "nested_pipeline")
    raw = run_raw("nested", "nested_pipeline")
    assert_same_values_as_raw(run, raw)
    assert run.outputs == [("inner-sum/add", "Output", "3"), ("inner-sum/add-2", "Output", "5"),
                           ("score", "metrics", "value=5")]
    assert run.pipeline_outputs == {"Output": str(raw.outputs["Output"])} == {"Output": "5"}
    assert {r["metric"]: r["value"] for r in run.tables["task/metric"] if r["task"] == "score"} == {"value": "5"}


def test_exit_handler_runs_cleanup_after_the_body(run_kfc: Callable[..., KfcRun],
                                                  run_raw: Callable[..., RawRun]) -> None:
    run = run_kfc("exit_handler", "exit_handler_pipeline")
    assert_same_values_as_raw(run, run_raw("exit_handler", "exit_handler_pipeline"))
    assert run.outputs == [("work", "Output", "done"), ("cleanup", "Output", "cleanup saw SUCCEEDED")]


def test_failed_body_fails_kfc_as_it_fails_kfp_local(run_kfc: Callable[..., KfcRun],
                                                     run_raw: Callable[..., RawRun]) -> None:
    raw = run_raw("exit_handler", "exit_handler_pipeline", fail=True)
    assert raw.outputs is None and "Inner task failed: 'work' inside 'exit-handler-1'" in raw.error
    run = run_kfc("exit_handler", "exit_handler_pipeline", "fail=true")
    assert run.result.returncode == 1
    stderr = run.result.stderr
    assert "error: local run failed: Pipeline 'sample-exit-handler' finished with status FAILURE. " \
           "Inner task failed: 'work' inside 'exit-handler-1'." in stderr
    assert "RuntimeError: work failed on purpose" in stderr  # the task's own traceback, not kfp's
    # The exit handler still ran, in both; kfc says so, and what it saw, without the log.
    assert raw.run_dir is not None
    raw_cleanup = json.loads((raw.run_dir / "cleanup" / "executor_output.json").read_text())
    assert raw_cleanup["parameterValues"] == {"Output": "cleanup saw FAILED"}
    assert "  tasks that succeeded: cleanup (Output=cleanup saw FAILED)\n" in stderr
    assert "Local run succeeded" not in run.result.stdout


# -- artifacts and metrics ------------------------------------------------------------------------------


def test_artifacts_are_files_and_metrics_are_values(run_kfc: Callable[..., KfcRun],
                                                    run_raw: Callable[..., RawRun]) -> None:
    run = run_kfc("artifacts", "artifacts_pipeline")
    raw = run_raw("artifacts", "artifacts_pipeline")
    assert_same_values_as_raw(run, raw)
    rows = {(task, output): value for task, output, value in run.outputs}
    # Rows come in the order tasks ran: the data before the model trained on it before its
    # evaluation (`visualize` depends on nothing, so kfp.local may run it anywhere in between).
    ran = list(dict.fromkeys(task for task, _, _ in run.outputs if task != "visualize"))
    assert ran == ["make-data", "train", "evaluate"]
    # Metrics live in metadata (kfp.local writes no file): the report shows them, not a path.
    assert rows[("train", "metrics")] == "accuracy=0.75, rows=20"
    assert rows[("evaluate", "metrics")] == "f1=0.86"
    assert rows[("evaluate", "classification")] == \
        "confusion matrix [cat, dog] [[8,2],[1,9]], ROC curve, 3 thresholds"
    # File artifacts: a path (relative to the printed outputs folder) to a real file, with metadata.
    data_path, data_meta = rows[("make-data", "data")].split("  ")
    assert data_meta == "(rows=20)"
    assert (run.outputs_dir / data_path).read_text().splitlines()[:2] == ["x,y", "0,0"]
    model_path = rows[("train", "model")].split("  ")[0]
    assert (run.outputs_dir / model_path).read_text() == "model trained on 20 rows\n"
    assert (run.outputs_dir / rows[("visualize", "html")]).read_text() == "<h1>report</h1>"
    assert (run.outputs_dir / rows[("visualize", "markdown")]).read_text() == "# report\n"
    # The pipeline returns the model: the same file kfp.local returns.
    assert run.pipeline_outputs == {"Output": model_path}
    assert raw.outputs is not None and Path(raw.outputs["Output"].path).read_text() == "model trained on 20 rows\n"
    metrics = {(r["task"], r["metric"]): r["value"] for r in run.tables["task/metric"]}
    assert metrics == {("train", "accuracy"): "0.75", ("train", "rows"): "20", ("evaluate", "f1"): "0.86"}


# -- inputs and environment -----------------------------------------------------------------------------


def test_unset_optional_parameter_is_refused_with_the_fix(run_kfc: Callable[..., KfcRun],
                                                          run_raw: Callable[..., RawRun]) -> None:
    raw = run_raw("optional_inputs", "optional_inputs_pipeline")
    assert raw.outputs is None and raw.error == "ValueError: Unknown value type: "  # names nothing
    run = run_kfc("optional_inputs", "optional_inputs_pipeline")
    assert run.result.returncode == 2
    assert "parameter 'name' (str) is optional with no default (None), which kfp.local cannot pass" \
        in run.result.stderr
    assert "--set pipeline.parameters.name=VALUE" in run.result.stderr
    assert not (run.project / ".kfops" / "local").exists()  # refused before anything ran


def test_optional_parameter_given_a_value_runs(run_kfc: Callable[..., KfcRun],
                                               run_raw: Callable[..., RawRun]) -> None:
    raw = run_raw("optional_inputs", "optional_inputs_pipeline", name="bob")
    run = run_kfc("optional_inputs", "optional_inputs_pipeline", "name=bob")
    assert_same_values_as_raw(run, raw)
    assert run.outputs == [("greet", "Output", "hello bob hello bob")]
    assert run.pipeline_outputs == {"Output": "hello bob hello bob"} == {"Output": raw.outputs["Output"]}


def test_pip_index_urls_with_an_installed_package_runs_as_with_kfp_local(
        run_kfc: Callable[..., KfcRun], run_raw: Callable[..., RawRun]) -> None:
    """kfc used to take the index URL for a requirement and refuse what kfp.local runs."""
    raw = run_raw("pip_index", "pip_index_pipeline")
    assert raw.outputs == {"Output": "n: 3"}, raw.error
    run = run_kfc("pip_index", "pip_index_pipeline")
    assert "packages.example.test" not in run.result.stderr
    assert_same_values_as_raw(run, raw)
    assert run.pipeline_outputs == {"Output": "n: 3"}


def test_pip_index_urls_with_a_missing_package_names_the_package(tmp_path: Path) -> None:
    project = make_project(tmp_path, "pip_index", "pip_index_pipeline")
    source = project / "pip_index.py"
    source.write_text(source.read_text().replace('packages_to_install=["pyyaml"]',
                                                 'packages_to_install=["kfops-sample-absent==1.0"]'))
    result = kfc("build-run", "--local", cwd=project)
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if "installs" in line]
    assert len(problems) == 1, result.stderr  # once, though kfp repeats the index on each pip line
    assert "component 'dump' installs kfops-sample-absent==1.0 (not installed)" in problems[0]
    assert "packages.example.test" not in result.stderr


# -- the original Kfops layout --------------------------------------------------------------------------


def test_original_kfops_layout_converts_and_runs_locally(tmp_path: Path, run_raw: Callable[..., RawRun]) -> None:
    repo = tmp_path / "iris"
    shutil.copytree(SAMPLES / "kfops_layout", repo)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    init = kfc("init", "--from-kfops", "--endpoint", "https://kfp.example.test/pipeline", cwd=repo)
    assert init.returncode == 0, init.stdout + init.stderr
    result = kfc("build-run", "--local", cwd=repo, timeout=300)
    assert result.returncode == 0, result.stderr
    run = KfcRun(result, repo)
    rows = {(task, output): value for task, output, value in run.outputs}
    assert rows[("train", "metrics")] == "accuracy=0.3333, rows=30"  # n_rows: 30 from config.yaml
    model = json.loads((run.outputs_dir / rows[("train", "model")]).read_text())
    assert model == {"classes": ["0", "1", "2"], "version": "unversioned"}  # version_id left to its default
    raw = run_raw("kfops_layout/my_pipeline/pipeline", "iris_pipeline", n_rows=30)
    assert_same_values_as_raw(run, raw)


def test_metrics_keep_kfp_task_name_when_the_report_shows_the_display_name(tmp_path: Path) -> None:
    """The report says `Train model` (as Kubeflow's UI would); the metrics comparison needs `train`,
    the name KFP records in ML Metadata, to find the same task in a remote baseline run."""
    from kfops_action.metrics.read import local_run_metrics
    from kfops_action.pipeline.local_record import collect

    spec = {"root": {"dag": {"tasks": {"train": {"componentRef": {"name": "comp-train"},
                                                  "taskInfo": {"name": "Train model"}}}}},
            "components": {"comp-train": {"executorLabel": "exec-train", "outputDefinitions": {"artifacts": {
                "metrics": {"artifactType": {"schemaTitle": "system.Metrics", "schemaVersion": "0.0.1"}}}}}}}
    record = tmp_path / "train" / "executor_output.json"
    record.parent.mkdir()
    record.write_text(json.dumps({"artifacts": {"metrics": {"artifacts": [
        {"name": "metrics", "uri": str(tmp_path / "train" / "metrics"), "metadata": {"accuracy": 0.9}}]}}}))
    (task,) = collect(spec, tmp_path)
    assert (task.name, task.artifact_metadata) == ("Train model", {"metrics": {"accuracy": 0.9}})
    assert local_run_metrics(type("Run", (), {"tasks": [task]})()).metrics == {"train": {"accuracy": 0.9}}
