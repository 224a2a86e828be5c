"""The image-builder interface.

Builders (docker on the runner, Kaniko as a Kubernetes Job) share one contract so that the build
handler neither knows nor cares which one runs: give it the images to build at a commit, get back
immutable references to what was built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from ..errors import ConfigError


@dataclass(frozen=True)
class ImageSpec:
    """One entry of `images.build`, with paths resolved against kfops.yaml."""

    name: str
    context: Path
    dockerfile: Path
    build_args: dict[str, str]

    def reference(self, registry: str, tag: str) -> str:
        return f"{registry.rstrip('/')}/{self.name}:{tag}"


@dataclass(frozen=True)
class BuiltImage:
    name: str
    reference: str  # registry/name:tag
    digest: str | None  # sha256:..., what the pipeline should pin


class ImageBuilder(Protocol):
    kind: str
    progress: Callable[[str], None]  # per-image news (built, reused), set by the build handler

    def build(self, images: list[ImageSpec], registry: str, tag: str) -> list[BuiltImage]: ...


def image_specs(images_section: dict[str, Any], base_dir: Path) -> list[ImageSpec]:
    specs = []
    for entry in images_section.get("build") or []:
        context = base_dir / entry.get("context", ".")
        specs.append(ImageSpec(
            name=entry["name"],
            context=context,
            dockerfile=context / entry.get("dockerfile", "Dockerfile"),
            build_args={k: str(v) for k, v in (entry.get("build_args") or {}).items()},
        ))
    return specs


def builder_classes() -> dict[str, type]:
    """The builders by `images.builder` name; imported on demand so `kfc --help` stays light."""
    from .docker import DockerBuilder
    from .kaniko import KanikoBuilder

    return {DockerBuilder.kind: DockerBuilder, KanikoBuilder.kind: KanikoBuilder}


def select_builder(images_section: dict[str, Any], base_dir: Path) -> tuple[ImageBuilder | None, list[ImageSpec]]:
    """(builder, images) to build, or (None, []) when nothing is configured to build.

    Images listed with `builder: none` (or no builder) is a contradiction, an error rather than a
    silent skip: a pipeline that needs an image and runs with a stale one is worse than one that
    does not run.
    """
    specs = image_specs(images_section, base_dir)
    kind = images_section.get("builder", "none")
    if not specs:
        return None, []
    if kind == "none":
        raise ConfigError(
            f"images.build lists {len(specs)} image(s) but images.builder is 'none'",
            fix="set images.builder to docker or kaniko, or remove images.build")
    if not images_section.get("registry"):
        raise ConfigError("images.build lists images but images.registry is not set",
                          fix="set images.registry, e.g. ghcr.io/your-org/your-model")
    builder_cls = builder_classes()[kind]  # the schema allows only known names
    return builder_cls.from_config(images_section, base_dir), specs
