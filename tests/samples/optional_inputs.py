"""Optional inputs: pipeline parameters that default to None, and a component input left unset.

Mirrors (by feature, written for kfops) KFP's component_with_optional_inputs and
pipeline_with_params samples.
"""

from typing import Optional

from kfp import dsl


@dsl.component(base_image="python:3.11-slim")
def greet(name: Optional[str] = None, times: int = 1, suffix: Optional[str] = None) -> str:
    who = name if name is not None else "nobody"
    return " ".join([f"hello {who}"] * times) + (suffix or "")


@dsl.pipeline(name="sample-optional-inputs")
def optional_inputs_pipeline(name: Optional[str] = None, times: int = 2) -> str:
    return greet(name=name, times=times).output
