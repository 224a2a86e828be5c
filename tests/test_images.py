"""The image-builder seam: what happens with nothing, or something this version cannot build."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfops_action.errors import ConfigError
from kfops_action.images.builder import image_specs, select_builder


def test_nothing_to_build(tmp_path: Path) -> None:
    assert select_builder({}, tmp_path) == (None, [])
    assert select_builder({"builder": "docker", "registry": "ghcr.io/acme"}, tmp_path) == (None, [])


def test_images_without_a_builder_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="images.build lists 1 image\\(s\\) but images.builder is 'none'"):
        select_builder({"build": [{"name": "trainer"}]}, tmp_path)


def test_images_without_a_registry_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="images.registry is not set"):
        select_builder({"builder": "docker", "build": [{"name": "trainer"}]}, tmp_path)


def test_image_specs_resolve_paths_and_references(tmp_path: Path) -> None:
    [spec] = image_specs({"build": [{"name": "trainer", "context": "docker/train",
                                      "build_args": {"PY": 3.11}}]}, tmp_path)
    assert spec.context == tmp_path / "docker/train"
    assert spec.dockerfile == tmp_path / "docker/train/Dockerfile"
    assert spec.build_args == {"PY": "3.11"}
    assert spec.reference("ghcr.io/acme/", "abc1234") == "ghcr.io/acme/trainer:abc1234"
