"""Build: images (when configured), the compiled pipeline, and its version on Kubeflow."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from ..gitinfo import Commit, current_commit
from ..images.builder import BuiltImage, select_builder
from ..pipeline.naming import version_name
from ..pipeline.isolated import DEFAULT_TIMEOUT, compile_isolated
from ..pipeline.package import PipelinePackage, read_package, with_caching
from .reporter import Reporter

if TYPE_CHECKING:
    from ..kubeflow.remote import KfpRemote, PipelineVersionRef
    from ..pipeline.local_cache import LocalCache


@dataclass(frozen=True)
class Built:
    package: PipelinePackage
    commit: Commit
    version: PipelineVersionRef | None = None
    images: list[BuiltImage] = field(default_factory=list)

    @property
    def version_name(self) -> str:
        return version_name(self.commit, self.package)


def compile_from_config(config: Config, package_file: Path | None = None, *,
                        timeout: float = DEFAULT_TIMEOUT, isolated: bool = True,
                        cache: LocalCache | None = None) -> PipelinePackage:
    """Compile the configured pipeline function, or read a prebuilt package given with --package.

    In a child process without credentials (pipeline/isolated.py): under the Action the pipeline
    file is a pull request's code, and kfc build/run take the same path. `isolated=False` only for
    `--local` runs, where kfp.local then runs the same code's components in this very process and
    environment: a child would protect nothing there and costs a second kfp import. There, a
    `cache` (pipeline/local_cache.py) reuses the compiled package while no source file changed."""
    if package_file is not None:
        return read_package(package_file)
    settings = config.pipeline
    if isolated:
        package = compile_isolated(settings.file, settings.function, settings.package, timeout=timeout)
    elif cache is not None:
        from ..pipeline.local_cache import compile_with_cache

        package = compile_with_cache(settings, config.section("pipeline"), cache)
    else:
        from ..pipeline.package import compile_pipeline
        from ..pipeline.source import load_pipeline_function

        package = compile_pipeline(load_pipeline_function(settings.file, settings.function), settings.package)
    return package if settings.caching is None else with_caching(package, settings.caching)


def build_images(config: Config, commit: Commit, reporter: Reporter) -> list[BuiltImage]:
    builder, specs = select_builder(config.section("images"), config.base_dir)
    if builder is None:
        reporter.progress("no images to build (images.build is empty)")
        return []
    tag = commit.short + ("-dirty" if commit.dirty else "")
    reporter.progress(f"building {len(specs)} image(s) with {builder.kind}")
    builder.progress = reporter.progress
    return builder.build(specs, config.section("images")["registry"], tag)


def prepare(config: Config, reporter: Reporter, *, package_file: Path | None = None,
            images: bool = True, isolated: bool = True, cache: LocalCache | None = None) -> Built:
    """Images (when asked) and the compiled package: everything before talking to Kubeflow."""
    commit = current_commit(config.base_dir)
    built_images = build_images(config, commit, reporter) if images else []
    package = compile_from_config(config, package_file, isolated=isolated, cache=cache)
    reporter.progress(f"compiled {package.name} -> {package.path} (spec {package.spec_hash})")
    return Built(package, commit, None, built_images)


def upload(config: Config, built: Built, *, remote: KfpRemote, reporter: Reporter) -> Built:
    """Upload the package as version `<commit>-<spec hash>` of the pipeline, or reuse it."""
    settings = config.pipeline
    if built.commit.dirty:
        reporter.warning("the working tree has uncommitted changes: the version name says -dirty")
    ref = remote.ensure_pipeline_version(settings.name, built.version_name, built.package.path,
                                         description=settings.description)
    verb = "uploaded" if ref.created else "reused existing"
    reporter.progress(f"{verb} pipeline version {ref.pipeline_name}/{ref.version_name}")
    return replace(built, version=ref)
