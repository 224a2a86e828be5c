"""kfops.yaml: loading with positions, overrides limited to the pipeline section, schema validation."""

from .loader import Config, PipelineSettings, find_config, load_config

__all__ = ["Config", "PipelineSettings", "find_config", "load_config"]
