"""dsl.ParallelFor over a static list and over a task's output list.

Mirrors (by feature, written for kfops) KFP's pipeline_with_loops sample. Every iteration runs the
same component, so a report keyed by component name would show one row where there are five.
"""

from typing import List

from kfp import dsl


@dsl.component(base_image="python:3.11-slim")
def make_sizes(count: int) -> List[int]:
    return [10 * (i + 1) for i in range(count)]


@dsl.component(base_image="python:3.11-slim")
def square(x: int) -> int:
    return x * x


@dsl.component(base_image="python:3.11-slim")
def shout(word: str) -> str:
    return word.upper()


@dsl.pipeline(name="sample-loops")
def loops_pipeline(count: int = 3) -> None:
    with dsl.ParallelFor(["a", "b"]) as word:
        shout(word=word)
    sizes = make_sizes(count=count)
    with dsl.ParallelFor(sizes.output) as size:
        square(x=size)
