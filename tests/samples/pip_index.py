"""A component that names its own package index (pip_index_urls) for a package already installed.

Mirrors (by feature, written for kfops) KFP's component_with_pip_index_urls sample. kfp compiles
the index into every `pip install` line; pip finds PyYAML installed and never asks the index, so
the local runner runs it offline. The index host is a reserved test name: nothing is fetched.
"""

from kfp import dsl


@dsl.component(base_image="python:3.11-slim", packages_to_install=["pyyaml"],
               pip_index_urls=["https://packages.example.test/simple"])
def dump(n: int) -> str:
    import yaml

    return yaml.safe_dump({"n": n}).strip()


@dsl.pipeline(name="sample-pip-index")
def pip_index_pipeline(n: int = 3) -> str:
    return dump(n=n).output
