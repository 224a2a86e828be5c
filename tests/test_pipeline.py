"""Compiling, inspecting and checking pipelines with the real kfp compiler."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kfops_action.errors import PipelineError
from kfops_action.gitinfo import Commit
from kfops_action.pipeline.local_run import check_runnable_locally
from kfops_action.pipeline.naming import run_name, version_name
from kfops_action.pipeline.package import compile_pipeline, read_package
from kfops_action.pipeline.parameters import arguments, resolve_parameters
from kfops_action.pipeline.source import load_pipeline_function

PIPELINE = '''
from kfp import dsl

@dsl.component(base_image="python:3.11-slim")
def add(a: float, b: float) -> float:
    return a + b

@dsl.pipeline(name="adder")
def adder(x: float = 1.0, y: float = 2.0, times: int = 3, label: str = "hi",
          flag: bool = False, required_count: int = 0):
    add(a=x, b=y)
'''

REQUIRED = '''
from kfp import dsl

@dsl.component
def echo(msg: str) -> str:
    return msg

@dsl.pipeline(name="needs-input")
def needs_input(message: str):
    echo(msg=message)
'''


def pipeline_file(tmp_path: Path, source: str, name: str = "pipeline.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture(scope="module")
def adder_package(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("adder")
    func = load_pipeline_function(pipeline_file(tmp, PIPELINE), "adder")
    return compile_pipeline(func, tmp / "out" / "adder.yaml")


def test_compile_reads_inputs_with_types_and_defaults(adder_package) -> None:
    params = adder_package.parameters
    assert adder_package.name == "adder"
    assert {n: (p.type_name, p.default) for n, p in params.items()} == {
        "x": ("float", 1.0), "y": ("float", 2.0), "times": ("int", 3), "label": ("str", "hi"),
        "flag": ("bool", False), "required_count": ("int", 0)}
    assert adder_package.sdk_version and adder_package.sdk_version.startswith("2.")


def test_spec_hash_is_stable_and_changes_with_the_code(tmp_path: Path, adder_package) -> None:
    again = compile_pipeline(load_pipeline_function(pipeline_file(tmp_path, PIPELINE), "adder"),
                             tmp_path / "again.yaml")
    assert again.spec_hash == adder_package.spec_hash
    changed = compile_pipeline(load_pipeline_function(
        pipeline_file(tmp_path, PIPELINE.replace("a + b", "a * b"), "changed.py"), "adder"), tmp_path / "c.yaml")
    assert changed.spec_hash != adder_package.spec_hash


def test_version_and_run_names_carry_commit_and_spec(adder_package) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert version_name(Commit(sha, False), adder_package) == f"0123456-{adder_package.spec_hash}"
    assert version_name(Commit(sha, True), adder_package) == f"0123456-dirty-{adder_package.spec_hash}"
    assert version_name(Commit(None, False), adder_package).startswith("nogit-")
    assert run_name("adder", Commit(sha, False), pr=42).startswith("adder-pr42-0123456-")


def test_parameters_checked_and_coerced(adder_package) -> None:
    rows = resolve_parameters(adder_package, {"x": 5, "label": 7, "times": 4.0},
                              is_override=lambda n: n == "x", where=lambda n: None)
    table = {r.name: (r.value, r.source) for r in rows}
    assert table["x"] == (5.0, "override") and isinstance(table["x"][0], float)
    assert table["label"] == ("7", "config")
    assert table["times"] == (4, "config") and isinstance(table["times"][0], int)
    assert table["y"] == (2.0, "default")
    assert [r.name for r in rows] == list(adder_package.parameters)  # the pipeline's order
    assert arguments(rows) == {"x": 5.0, "label": "7", "times": 4}


def test_unknown_and_mistyped_parameters_all_reported(adder_package) -> None:
    with pytest.raises(PipelineError) as info:
        resolve_parameters(adder_package, {"tims": 3, "flag": "yes", "times": 2.5},
                           is_override=lambda n: False,
                           where=lambda n: f"--set pipeline.parameters.{n}=...")
    text = str(info.value)
    assert "unknown parameter 'tims' (did you mean 'times'?)" in text
    assert "the pipeline takes: flag (bool), label (str), required_count (int), times (int), x (float), y (float)" in text
    assert "parameter 'flag' must be bool, got 'yes'" in text
    assert "parameter 'times' must be int, got 2.5" in text
    assert info.value.problems[0].where == "--set pipeline.parameters.tims=..."


def test_required_parameter_without_default(tmp_path: Path) -> None:
    package = compile_pipeline(load_pipeline_function(pipeline_file(tmp_path, REQUIRED), "needs_input"),
                               tmp_path / "p.yaml")
    with pytest.raises(PipelineError, match="parameter 'message' \\(str\\) is required and has no default"):
        resolve_parameters(package, {}, is_override=lambda n: False, where=lambda n: None)
    rows = resolve_parameters(package, {"message": "hello"}, is_override=lambda n: False, where=lambda n: None)
    assert arguments(rows) == {"message": "hello"}


def test_pipeline_source_errors_point_at_user_code(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="not found"):
        load_pipeline_function(tmp_path / "missing.py", "p")
    bad = pipeline_file(tmp_path, "def broken(:\n", "syntax.py")
    with pytest.raises(PipelineError) as info:
        load_pipeline_function(bad, "p")
    assert info.value.problems[0].where.startswith(f"{bad}:1:")
    raising = pipeline_file(tmp_path, "x = 1\nraise RuntimeError('no data')\n", "raises.py")
    with pytest.raises(PipelineError) as info:
        load_pipeline_function(raising, "p")
    assert "RuntimeError: no data" in info.value.what and info.value.problems[0].where == f"{raising}:2"
    good = pipeline_file(tmp_path, PIPELINE, "good.py")
    with pytest.raises(PipelineError, match="has no function 'adderr' \\(pipelines defined there: adder\\)"):
        load_pipeline_function(good, "adderr")
    with pytest.raises(PipelineError, match="'add' in .* is not a KFP pipeline"):
        load_pipeline_function(good, "add")


def test_compiler_errors_are_reported_as_pipeline_errors(tmp_path: Path) -> None:
    source = PIPELINE.replace("add(a=x, b=y)", "add(a=x, b=y, c=1)")
    with pytest.raises(PipelineError, match="add\\(\\) got an unexpected keyword argument 'c'|unexpected"):
        func = load_pipeline_function(pipeline_file(tmp_path, source), "adder")
        compile_pipeline(func, tmp_path / "x.yaml")


def test_read_package_refuses_non_ir(tmp_path: Path) -> None:
    path = tmp_path / "not-ir.yaml"
    path.write_text("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n")
    with pytest.raises(PipelineError, match="not a KFP v2 pipeline package"):
        read_package(path)


CONTAINER = '''
from kfp import dsl

@dsl.container_component
def say(msg: str):
    return dsl.ContainerSpec(image="alpine:3.20", command=["echo"], args=[msg])

@dsl.pipeline(name="containers")
def containers(msg: str = "hi"):
    say(msg=msg)
'''

PACKAGES = '''
from kfp import dsl

@dsl.component(packages_to_install=["kfops-surely-not-installed-pkg==9.9.9"])
def use_it() -> int:
    return 1

@dsl.pipeline(name="packages")
def packages():
    use_it()
'''


def test_local_runner_refuses_container_components(tmp_path: Path) -> None:
    package = compile_pipeline(load_pipeline_function(pipeline_file(tmp_path, CONTAINER), "containers"),
                               tmp_path / "c.yaml")
    with pytest.raises(PipelineError) as info:
        check_runnable_locally(package)
    assert "component 'say' is a container component (image alpine:3.20)" in str(info.value)


def test_local_runner_refuses_packages_it_would_pip_install(tmp_path: Path) -> None:
    package = compile_pipeline(load_pipeline_function(pipeline_file(tmp_path, PACKAGES), "packages"),
                               tmp_path / "p.yaml")
    with pytest.raises(PipelineError) as info:
        check_runnable_locally(package)
    assert "component 'use-it' installs kfops-surely-not-installed-pkg==9.9.9 (not installed)" in str(info.value)


def test_local_runner_refuses_a_package_from_another_kfp_version(tmp_path: Path, adder_package) -> None:
    text = adder_package.path.read_text()
    here = adder_package.sdk_version
    other = tmp_path / "old.yaml"
    other.write_text(text.replace(f"kfp-{here}", "kfp-2.7.0").replace(f"kfp=={here}", "kfp==2.7.0"))
    with pytest.raises(PipelineError) as info:
        check_runnable_locally(read_package(other))
    assert f"compiled by kfp 2.7.0, this environment has kfp {here}" in str(info.value)
    check_runnable_locally(adder_package)  # our own compile is fine


def test_caching_setting_is_written_into_the_package(tmp_path: Path) -> None:
    from kfops_action.pipeline.package import with_caching

    func = load_pipeline_function(pipeline_file(tmp_path, PIPELINE), "adder")
    on = with_caching(compile_pipeline(func, tmp_path / "on.yaml"), True)
    off = with_caching(compile_pipeline(func, tmp_path / "off.yaml"), False)
    tasks = lambda p: p.spec["root"]["dag"]["tasks"].values()  # noqa: E731
    assert all(t["cachingOptions"] == {"enableCache": True} for t in tasks(on))
    assert all(not t["cachingOptions"].get("enableCache") for t in tasks(off))
    assert on.spec_hash != off.spec_hash
    assert read_package(off.path).spec == off.spec  # what is uploaded is what was hashed
