"""A pipeline used as a component of another pipeline, with outputs flowing out of it.

Mirrors (by feature, written for kfops) KFP's pipeline_in_pipeline sample. The inner pipeline runs
`add` twice, so two tasks share one component.
"""

from kfp import dsl
from kfp.dsl import Output, Metrics


@dsl.component(base_image="python:3.11-slim")
def add(a: int, b: int) -> int:
    return a + b


@dsl.component(base_image="python:3.11-slim")
def score(value: int, metrics: Output[Metrics]) -> None:
    metrics.log_metric("value", float(value))


@dsl.pipeline(name="inner-sum")
def inner(a: int, b: int) -> int:
    first = add(a=a, b=b)
    return add(a=first.output, b=b).output


@dsl.pipeline(name="sample-nested")
def nested_pipeline(a: int = 1, b: int = 2) -> int:
    total = inner(a=a, b=b)
    score(value=total.output)
    return total.output
