"""`kfc` as a user runs it: a subprocess, its exit code, what it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, kfc


def test_help_does_not_import_heavy_dependencies() -> None:
    code = ("import sys\nfrom kfops_action import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'kfp', 'kfp_server_api', 'kubernetes', 'jsonschema', 'yaml', 'requests', 'urllib3'})\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("command", ["validate", "schema", "build", "run", "build-run", "build_run",
                                     "status", "comment"])
def test_every_command_has_help(command: str) -> None:
    result = kfc(command, "--help")
    assert result.returncode == 0
    assert "usage: kfc" in result.stdout


def test_no_deploy_command() -> None:
    result = kfc("deploy")
    assert result.returncode == 2
    assert "invalid choice: 'deploy'" in result.stderr


def test_schema_prints_the_json_schema() -> None:
    result = kfc("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "kfops.yaml"


def test_validate_example(project: Path) -> None:
    result = kfc("validate", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "kfops.yaml is valid; pipeline quickstart-classifier compiles" in result.stdout
    assert "learning_rate  0.1    float  config" in result.stdout


def test_validate_reports_all_errors_with_lines(project: Path) -> None:
    config = project / "kfops.yaml"
    text = config.read_text().replace("canary_percent: 10 ", "canary_percent: 150 ")
    text = text.replace("  experiment: quickstart", "  experimnt: quickstart")
    config.write_text(text)
    result = kfc("validate", cwd=project)
    assert result.returncode == 2
    assert "kfops.yaml: 2 configuration errors" in result.stderr
    assert "pipeline.experimnt: unknown key 'experimnt' (did you mean 'experiment'?)" in result.stderr
    assert "deployment.production.canary_percent: must be between 0 and 100, got 150" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_says_how_to_fix(tmp_path: Path) -> None:
    result = kfc("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "no kfops.yaml in" in result.stderr and "-c path/to/kfops.yaml" in result.stderr


def test_build_run_local_runs_the_example(project: Path) -> None:
    result = kfc("build-run", "--local", "--set", "pipeline.parameters.epochs=150", cwd=project)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Local run succeeded in ")
    outputs = Path(out.splitlines()[1].split("outputs:", 1)[1].strip())
    assert outputs.is_dir() and outputs.is_relative_to(project / ".kfops" / "local")
    assert "epochs         150    int    yes" in out
    # metrics the evaluate step logged, read back from the run's own record
    metric_rows = {line.split()[1]: float(line.split()[2]) for line in out.splitlines()
                   if line.startswith("evaluate ") and len(line.split()) == 3 and line.split()[1] in
                   {"accuracy", "f1", "log_loss"}}
    assert set(metric_rows) == {"accuracy", "f1", "log_loss"}
    assert metric_rows["accuracy"] > 0.85
    model_rel = next(line.split()[2] for line in out.splitlines() if line.startswith("train ") and " model " in line)
    model = json.loads((outputs / model_rel).read_text())
    assert model["weights"]
    assert "Executing task" not in out  # kfp's own log stays in the log file
    assert all(line.startswith("• ") for line in result.stderr.splitlines()), result.stderr  # no warnings
    assert "Executing task" in (outputs / "kfp-local.log").read_text()


def test_local_run_with_unknown_parameter_runs_nothing(project: Path) -> None:
    result = kfc("run", "--local", "--set", "pipeline.parameters.lerning_rate=1", cwd=project)
    assert result.returncode == 2
    assert "unknown parameter 'lerning_rate' (did you mean 'learning_rate'?)" in result.stderr
    assert "--set pipeline.parameters.lerning_rate=1" in result.stderr
    assert not (project / ".kfops" / "local").exists()


def test_override_outside_pipeline_refused(project: Path) -> None:
    result = kfc("run", "--local", "--set", "deployment.production.canary_percent=100", cwd=project)
    assert result.returncode == 2
    assert "is outside the pipeline section" in result.stderr


def test_config_override_file(project: Path) -> None:
    override = project / "fast.yaml"
    override.write_text("pipeline:\n  parameters:\n    epochs: 20\n    n_samples: 200\n")
    result = kfc("validate", "--config-override", str(override), cwd=project)
    assert result.returncode == 0, result.stderr
    assert "epochs         20     int    override" in result.stdout
    assert "n_samples      200    int    override" in result.stdout


def test_local_run_refuses_package_from_other_kfp(project: Path, tmp_path: Path) -> None:
    assert kfc("build", "--no-upload", cwd=project).returncode == 0
    compiled = project / ".kfops" / "build" / "pipeline.yaml"
    text = compiled.read_text()
    import kfp

    old = tmp_path / "old.yaml"
    old.write_text(text.replace(f"kfp-{kfp.__version__}", "kfp-2.0.1").replace(f"kfp=={kfp.__version__}", "kfp==2.0.1"))
    result = kfc("run", "--local", "--package", str(old), cwd=project)
    assert result.returncode == 2
    assert "cannot run with the local runner" in result.stderr
    assert "compiled by kfp 2.0.1" in result.stderr


def test_failing_local_task_exits_non_zero_with_the_cause(project: Path) -> None:
    pipeline = project / "pipeline.py"
    source = pipeline.read_text()
    marker = "def train("
    assert marker in source
    # make training blow up at run time, as a user bug would
    lines = source.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(marker))
    body = next(i for i in range(index + 1, len(lines)) if lines[i].strip().startswith(('"""', "import", "from")))
    indent = lines[body][: len(lines[body]) - len(lines[body].lstrip())]
    lines.insert(body, f"{indent}raise ValueError('diverged: loss is nan')")
    pipeline.write_text("\n".join(lines) + "\n")
    result = kfc("build-run", "--local", cwd=project)
    assert result.returncode == 1
    assert "local run failed" in result.stderr
    assert "diverged: loss is nan" in result.stderr
