"""`kfc build-run --local` reuses unchanged work: the compiled pipeline and each task's outputs.

Every test runs kfc as a user does (a subprocess) on a copy of the quickstart project and reads
what the user reads: which tasks the report marks "(cached)", the values and metrics it prints,
the files in the outputs folder, the kfp log, and the warnings.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, kfc

TASKS = ("make-dataset", "train", "evaluate")
ROW = re.compile(r"^(make-dataset|train|evaluate)( \(cached\))?  ", re.MULTILINE)


def run(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = kfc("build-run", "--local", *args, cwd=project, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def cached(result: subprocess.CompletedProcess[str]) -> dict[str, bool]:
    """Each task of the report's outputs table: True when it is marked (cached)."""
    table = re.search(r"^task +output +value\n-[- ]+\n(.*?)\n\n", result.stdout, re.MULTILINE | re.DOTALL)
    assert table, result.stdout
    found = {name: bool(mark) for name, mark in ROW.findall(table.group(1))}
    assert set(found) == set(TASKS), result.stdout
    return found


def outputs_dir(result: subprocess.CompletedProcess[str]) -> Path:
    return Path(re.search(r"^  outputs: (.+)$", result.stdout, re.MULTILINE).group(1))


def shown(result: subprocess.CompletedProcess[str]) -> str:
    """The report without what differs on every run (time, folders) and without the marker."""
    text = result.stdout.replace(" (cached)", "")
    text = re.sub(r"succeeded in [0-9.]+s.*", "succeeded", text)
    text = re.sub(r"quickstart-classifier-[0-9-]+", "RUN", text)
    text = re.sub(r"-{2,}", "--", re.sub(r" {2,}", "  ", text))  # column widths follow the marker
    return re.sub(r" +$", "", text, flags=re.MULTILINE)


def task_file(result: subprocess.CompletedProcess[str], task: str, name: str) -> bytes:
    [path] = outputs_dir(result).glob(f"quickstart-classifier-*/{task}/{name}")
    return path.read_bytes()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_second_unchanged_run_reuses_every_task_without_starting_kfp(project: Path) -> None:
    first = run(project)
    assert cached(first) == dict.fromkeys(TASKS, False)
    assert "tasks cached" not in first.stdout

    code = ("import sys\nfrom kfops_action.cli import main\n"
            "code = main(['build-run', '--local'])\n"
            "print('KFP IMPORTED', 'kfp' in sys.modules)\nsys.exit(code)")
    second = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "KFP IMPORTED False" in second.stdout
    assert cached(second) == dict.fromkeys(TASKS, True)
    assert "(3 of 3 tasks cached, --no-cache reruns them)" in second.stdout
    # the same report (parameters, outputs, metrics), the marker aside
    assert shown(second).replace("KFP IMPORTED False\n", "") == shown(first)
    assert "evaluate  accuracy   0.933333" in second.stdout
    # the files are in this run's own folder, byte for byte the first run's
    assert outputs_dir(second) != outputs_dir(first)
    for task, name in [("make-dataset", "train_data"), ("make-dataset", "test_data"), ("train", "model")]:
        assert task_file(second, task, name) == task_file(first, task, name)
    record = next(outputs_dir(second).glob("quickstart-classifier-*/evaluate/executor_output.json"))
    metrics_uri = json.loads(record.read_text())["artifacts"]["metrics"]["artifacts"][0]["uri"]
    assert metrics_uri.startswith(str(outputs_dir(second)))
    log = (outputs_dir(second) / "kfp-local.log").read_text()
    assert "nothing ran, kfp was not started" in log and "Task train: cached" in log


def test_a_changed_parameter_reruns_only_what_depends_on_it(project: Path) -> None:
    run(project)
    changed = run(project, "--set", "pipeline.parameters.epochs=50")
    assert cached(changed) == {"make-dataset": True, "train": False, "evaluate": False}
    assert "epochs=50" in changed.stdout
    log = (outputs_dir(changed) / "kfp-local.log").read_text()
    assert "Task make-dataset: cached" in log and "Executing task" in log
    again = run(project, "--set", "pipeline.parameters.epochs=50")
    assert cached(again) == dict.fromkeys(TASKS, True)
    assert shown(again) == shown(changed)


def test_changed_component_code_reruns_that_task_and_keys_downstream_on_content(project: Path) -> None:
    run(project)
    # a code change that leaves the model byte-identical: train reruns, evaluate (whose input did
    # not change) is reused, as KFP's cache would
    edit(project / "pipeline.py", "    n_rows, n_features = len(xs), len(feature_names)\n",
         "    n_rows, n_features = len(xs), len(feature_names)\n    assert n_rows > 0\n")
    same_model = run(project)
    assert cached(same_model) == {"make-dataset": True, "train": False, "evaluate": True}
    # a change to what train writes: evaluate's input changed, so it reruns too
    edit(project / "pipeline.py", '"threshold": 0.5,', '"threshold": 0.6,')
    new_model = run(project)
    assert cached(new_model) == {"make-dataset": True, "train": False, "evaluate": False}
    assert shown(new_model) != shown(same_model)


def test_a_changed_file_the_pipeline_imports_recompiles(project: Path) -> None:
    (project / "defaults.py").write_text("SEED = 7\n")
    edit(project / "pipeline.py", "from kfp import dsl\n", "from defaults import SEED\nfrom kfp import dsl\n")
    edit(project / "pipeline.py", "    seed: int = 7,\n", "    seed: int = SEED,\n")
    first = run(project)
    assert cached(run(project)) == dict.fromkeys(TASKS, True)
    (project / "defaults.py").write_text("SEED = 8\n")
    changed = run(project)
    assert cached(changed) == dict.fromkeys(TASKS, False)
    assert "seed           8" in changed.stdout and "seed           7" in first.stdout


def test_another_kfp_version_misses(project: Path) -> None:
    run(project)
    code = ("import sys\nfrom kfops_action.pipeline import local_cache\n"
            "local_cache.installed_kfp_version = lambda: '2.99.0'\n"
            "from kfops_action.cli import main\nsys.exit(main(['build-run', '--local']))")
    other = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=300)
    assert other.returncode == 0, other.stdout + other.stderr
    assert cached(other) == dict.fromkeys(TASKS, False)
    assert cached(run(project)) == dict.fromkeys(TASKS, True)  # this version's entries are intact


def test_tasks_with_caching_disabled_always_run(project: Path) -> None:
    edit(project / "kfops.yaml", "  caching: true", "  # caching: true")  # it would override the task's own
    edit(project / "pipeline.py",
         '    evaluate(model=train_task.outputs["model"], test_data=dataset_task.outputs["test_data"])\n',
         '    evaluate(model=train_task.outputs["model"], test_data=dataset_task.outputs["test_data"])'
         ".set_caching_options(False)\n")
    run(project)
    second = run(project)
    assert cached(second) == {"make-dataset": True, "train": True, "evaluate": False}
    assert "evaluate  accuracy   0.933333" in second.stdout


def test_no_cache_runs_everything_and_writes_nothing(project: Path) -> None:
    first = run(project, "--no-cache")
    assert cached(first) == dict.fromkeys(TASKS, False)
    assert not (project / ".kfops" / "cache").exists()
    run(project)
    forced = run(project, "--no-cache")
    assert cached(forced) == dict.fromkeys(TASKS, False)
    assert (outputs_dir(forced) / "kfp-local.log").read_text().count("Executing task") == 3


def test_a_damaged_entry_is_ignored_with_a_warning_and_replaced(project: Path) -> None:
    first = run(project)
    entries = {json.loads(p.read_text())["task_root"].rsplit("/", 1)[1]: p.parent
               for p in (project / ".kfops" / "cache" / "steps").glob("*/entry.json")}
    assert set(entries) == set(TASKS)
    (entries["train"] / "entry.json").write_text('{"format": 1, "key": ')  # cut short
    data = entries["make-dataset"] / "files" / "train_data"
    data.write_bytes(data.read_bytes().replace(b"1", b"2"))  # same size, other content
    damaged = run(project)
    assert damaged.stderr.count("ignoring a damaged local cache entry") == 2, damaged.stderr
    assert "Traceback" not in damaged.stderr
    # both damaged tasks ran again, with the same results; evaluate's inputs did not change
    assert cached(damaged) == {"make-dataset": False, "train": False, "evaluate": True}
    assert shown(damaged) == shown(first)
    assert task_file(damaged, "make-dataset", "train_data") == task_file(first, "make-dataset", "train_data")
    healed = run(project)
    assert cached(healed) == dict.fromkeys(TASKS, True)
    assert "damaged" not in healed.stderr


def test_two_runs_at_once_leave_a_sound_cache(project: Path) -> None:
    command = [sys.executable, "-m", "kfops_action.cli", "build-run", "--local"]
    both = [subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [p.communicate(timeout=300) for p in both]
    assert [p.returncode for p in both] == [0, 0], results
    assert all(outputs_dir(subprocess.CompletedProcess([], 0, out, err)) for out, err in results)
    leftovers = [p.name for p in (project / ".kfops" / "cache").rglob(".tmp-*")]
    assert leftovers == []
    third = run(project)
    assert cached(third) == dict.fromkeys(TASKS, True)
    assert "damaged" not in third.stderr
    assert "evaluate  accuracy   0.933333" in third.stdout


def test_keys_follow_what_the_task_sees(tmp_path: Path) -> None:
    """200 and 200.0 are one input to KFP (every number is a protobuf double), True and 1 are not."""
    from kfops_action.pipeline.local_cache import LocalCache

    cache = LocalCache(tmp_path, warn=pytest.fail)

    def key(parameters: dict[str, object], sha: str = "a" * 64) -> str:
        return cache.step_key({"container": {"image": "python:3.11"}}, parameters,
                              {"data": [{"sha256": sha, "metadata": {}}]})

    assert key({"epochs": 200.0}) == key({"epochs": 200})
    assert key({"flag": True}) != key({"flag": 1})
    assert key({"lr": 0.1}) != key({"lr": 0.2})
    assert key({"lr": 0.1}) != key({"lr": 0.1}, sha="b" * 64)  # an input artifact's content
