"""Branches: dsl.If / dsl.Elif / dsl.Else on a task output, and dsl.Condition on a parameter.

Mirrors (by feature, written for kfops) KFP's pipeline_with_condition and if_elif_else samples.
With the defaults, `flip` returns "heads" (seed 1), so only `announce-heads` and the threshold
branch run: the others must show as not run, never as failed.
"""

from kfp import dsl


@dsl.component(base_image="python:3.11-slim")
def flip(seed: int) -> str:
    import random

    return "heads" if random.Random(seed).random() < 0.5 else "tails"


@dsl.component(base_image="python:3.11-slim")
def announce(side: str) -> str:
    return f"it was {side}"


@dsl.component(base_image="python:3.11-slim")
def above(value: float) -> str:
    return f"{value} is above the threshold"


@dsl.pipeline(name="sample-conditions")
def conditions_pipeline(seed: int = 1, score: float = 0.9, threshold: float = 0.5) -> None:
    side = flip(seed=seed)
    with dsl.If(side.output == "heads"):
        announce(side="heads").set_display_name("announce-heads")
    with dsl.Elif(side.output == "tails"):
        announce(side="tails").set_display_name("announce-tails")
    with dsl.Else():
        announce(side="edge").set_display_name("announce-edge")
    with dsl.Condition(score > threshold, name="score-high"):
        above(value=score)
