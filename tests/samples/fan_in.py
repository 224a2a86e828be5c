"""Fan-in: dsl.Collected gathers a ParallelFor's outputs (parameters and artifacts) into one task.

Mirrors (by feature, written for kfops) KFP's parallelfor_fan_in samples.
"""

from typing import List

from kfp import dsl
from kfp.dsl import Dataset, Input, Output


@dsl.component(base_image="python:3.11-slim")
def double(x: int) -> int:
    return 2 * x


@dsl.component(base_image="python:3.11-slim")
def write_part(x: int, part: Output[Dataset]) -> None:
    with open(part.path, "w") as f:
        f.write(f"part {x}\n")


@dsl.component(base_image="python:3.11-slim")
def total(values: List[int]) -> int:
    # int(): collected numbers arrive as floats under kfp.local (2.17), as every number that went
    # through a protobuf Value; without it the executor rejects `12.0` for an `int` output.
    return int(sum(values))


@dsl.component(base_image="python:3.11-slim")
def concat(parts: Input[List[Dataset]], merged: Output[Dataset]) -> int:
    texts = [open(p.path).read() for p in parts]
    with open(merged.path, "w") as f:
        f.write("".join(texts))
    return len(texts)


@dsl.pipeline(name="sample-fan-in")
def fan_in_pipeline() -> int:
    with dsl.ParallelFor([1, 2, 3]) as x:
        doubled = double(x=x)
        part = write_part(x=x)
    concat(parts=dsl.Collected(part.outputs["part"]))
    return total(values=dsl.Collected(doubled.output)).output
