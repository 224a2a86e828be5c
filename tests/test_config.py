"""kfops.yaml loading, validation and overrides, as a user meets them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kfops_action.config import load_config
from kfops_action.config.overrides import apply_set, deep_merge, parse_set
from kfops_action.config.validation import schema
from kfops_action.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "quickstart" / "kfops.yaml"

MINIMAL = """\
pipeline:
  file: pipeline.py
  function: training_pipeline
  parameters:
    learning_rate: 0.1
    epochs: 10
"""


def write(tmp_path: Path, text: str, name: str = "kfops.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, **kwargs)
    return info.value


def test_example_config_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert config.pipeline.name == "quickstart-classifier"
    assert config.pipeline.file == EXAMPLE.parent / "pipeline.py"
    assert config.pipeline.package == EXAMPLE.parent / ".kfops/build/pipeline.yaml"


def test_defaults_name_after_folder_and_experiment_after_name(tmp_path: Path) -> None:
    repo = tmp_path / "churn-model"
    repo.mkdir()
    config = load_config(write(repo, MINIMAL))
    assert config.pipeline.name == "churn-model"
    assert config.pipeline.experiment == "churn-model"
    assert config.pipeline.parameters == {"learning_rate": 0.1, "epochs": 10}


def test_every_schema_error_reported_at_once_with_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, """\
pipeline:
  file: pipeline.py
  function: train
  cachng: true
deployment:
  production:
    namespace: prod
    inference_service: model
    canary_percent: 150
  staging:
    namespace: Staging_NS
images:
  builder: podman
""")
    err = error_of(path)
    text = str(err)
    where = {p.where: p.message for p in err.problems}
    assert where[f"{path}:4:3"].startswith("pipeline.cachng: unknown key 'cachng' (did you mean 'caching'?)")
    assert where[f"{path}:9:21"] == "deployment.production.canary_percent: must be between 0 and 100, got 150"
    assert "deployment.staging: missing required key 'inference_service'" in text
    assert f"{path}:11:16: deployment.staging.namespace: must be a Kubernetes name" in text
    assert f"{path}:13:12: images.builder: must be one of: none, docker, kaniko" in text
    assert len(err.problems) == 5
    # sorted by line, so the user reads them top to bottom
    lines = [int(p.where.split(":")[-2]) for p in err.problems]
    assert lines == sorted(lines)
    assert err.exit_code == 2


def test_invalid_yaml_points_at_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "pipeline:\n  file: p.py\n   function: x\n")
    err = error_of(path)
    assert "is not valid YAML" in err.what
    assert err.problems[0].where.startswith(f"{path}:3:")


def test_duplicate_keys_are_errors_not_silently_overwritten(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "    epochs: 20\n")
    err = error_of(path)
    assert "duplicate key 'epochs' (first defined at line 6)" in str(err)
    assert err.problems[0].where == f"{path}:7:5"


def test_unreadable_empty_and_non_mapping_files(tmp_path: Path) -> None:
    assert "cannot read" in error_of(tmp_path / "missing.yaml").what
    assert "is empty" in error_of(write(tmp_path, "# nothing\n")).what
    assert "top level must be a mapping" in error_of(write(tmp_path, "- a\n- b\n")).what
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert "not UTF-8" in error_of(binary).what


def test_missing_pipeline_section(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "version: 1\n"))
    assert "(top level): missing required key 'pipeline'" in str(err)


def test_set_overrides_pipeline_values_with_yaml_types(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    config = load_config(path, sets=["pipeline.parameters.learning_rate=0.01",
                                     "pipeline.parameters.tag=a=b", "pipeline.caching=false"])
    assert config.pipeline.parameters == {"learning_rate": 0.01, "epochs": 10, "tag": "a=b"}
    assert config.pipeline.caching is False
    assert config.is_overridden("pipeline.parameters.learning_rate")
    assert not config.is_overridden("pipeline.parameters.epochs")


def test_set_outside_pipeline_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    for expr in ["deployment.production.canary_percent=100", "chatops.allow_forks=true", "pipeline=x"]:
        err = error_of(path, sets=[expr])
        assert "outside the pipeline section" in err.what, expr
        assert "only pipeline.* can be overridden" in (err.fix or "")


def test_set_syntax_errors(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    assert "expected KEY=VALUE" in error_of(path, sets=["pipeline.caching"]).what
    assert "not a dotted path" in error_of(path, sets=["pipeline..x=1"]).what
    assert "not a mapping" in error_of(path, sets=["pipeline.file.x=1"]).what


def test_unknown_override_key_is_located_at_the_flag(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    err = error_of(path, sets=["pipeline.experimnt=x"])
    problem = err.problems[0]
    assert problem.where == "--set pipeline.experimnt=x"
    assert "unknown key 'experimnt' (did you mean 'experiment'?)" in problem.message


def test_set_value_of_wrong_type_is_located_at_the_flag(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, MINIMAL), sets=["pipeline.caching=maybe"])
    assert str(err.problems[0]) == "--set pipeline.caching=maybe: pipeline.caching: must be true or false, got 'maybe' (a string)"


def test_config_override_file_deep_merges_and_set_wins(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    override = write(tmp_path, "pipeline:\n  parameters:\n    epochs: 50\n    learning_rate: 0.5\n  experiment: tuning\n",
                     "override.yaml")
    config = load_config(path, sets=["pipeline.parameters.learning_rate=0.2"], override_files=[override])
    assert config.pipeline.parameters == {"learning_rate": 0.2, "epochs": 50}
    assert config.pipeline.experiment == "tuning"
    assert config.pipeline.function == "training_pipeline"  # untouched keys kept
    assert config.is_overridden("pipeline.parameters.epochs")
    assert config.where("pipeline.parameters.epochs") == f"{override}:3:5"
    assert config.where("pipeline.parameters.learning_rate") == "--set pipeline.parameters.learning_rate=0.2"


def test_config_override_file_outside_pipeline_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    override = write(tmp_path, "pipeline:\n  experiment: x\nchatops:\n  allow_forks: true\n", "o.yaml")
    err = error_of(path, override_files=[override])
    assert "may only change the pipeline section" in err.what
    assert str(err.problems[0]) == f"{override}:3:1: 'chatops' is outside the pipeline section"


def test_config_override_errors_point_into_the_override_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    override = write(tmp_path, "pipeline:\n  caching: sometimes\n", "o.yaml")
    err = error_of(path, override_files=[override])
    assert str(err.problems[0]).startswith(f"{override}:2:12: pipeline.caching: must be true or false")


def test_missing_override_file(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, MINIMAL), override_files=[tmp_path / "nope.yaml"])
    assert "cannot read the override file" in err.what


def test_schema_is_valid_draft_2020_12_and_documents_every_section() -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema())
    assert set(schema()["properties"]) >= {"pipeline", "images", "deployment", "chatops", "kubeflow"}


def test_secrets_cannot_be_written_into_the_config(tmp_path: Path) -> None:
    """The auth section names where a secret is, never holds one: a literal token key is refused."""
    err = error_of(write(tmp_path, MINIMAL + "kubeflow:\n  auth:\n    type: token\n    token: abc123\n"))
    assert "unknown key 'token'" in str(err)


keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
values = st.recursive(st.one_of(st.integers(), st.text(max_size=5), st.booleans()),
                      lambda inner: st.dictionaries(keys, inner, max_size=3), max_leaves=8)


@given(st.dictionaries(keys, values, max_size=4), st.dictionaries(keys, values, max_size=4))
@settings(max_examples=200, deadline=None)
def test_deep_merge_properties(base: dict, override: dict) -> None:
    merged = deep_merge(base, override)
    # every override leaf wins; every base key survives; inputs are not mutated
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            assert deep_merge(base[key], value) == merged[key]
        else:
            assert merged[key] == value
    assert set(base) | set(override) == set(merged)
    assert deep_merge(merged, override) == merged  # idempotent


@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3),
       st.one_of(st.integers(), st.booleans(), st.text(alphabet="xyz=:", max_size=6)))
@settings(max_examples=200, deadline=None)
def test_set_round_trips_through_yaml(path: list[str], value: object) -> None:
    text = yaml.safe_dump(value, default_flow_style=True).strip()
    if text.endswith("..."):
        text = text[:-3].strip()
    override = parse_set("pipeline." + ".".join(path) + "=" + text)
    assert override.value == (value if text != "''" else "")
    result = apply_set({"pipeline": {}}, override)
    node = result["pipeline"]
    for part in path[:-1]:
        node = node[part]
    assert node[path[-1]] == override.value
