"""dsl.ExitHandler: a cleanup task that runs after the body, whatever its outcome.

Mirrors (by feature, written for kfops) KFP's pipeline_with_exit_handler sample. `fail=True` makes
the body fail: the cleanup still runs, and the run must be reported as failed, naming the task.
"""

from kfp import dsl
from kfp.dsl import PipelineTaskFinalStatus


@dsl.component(base_image="python:3.11-slim")
def work(fail: bool) -> str:
    if fail:
        raise RuntimeError("work failed on purpose")
    return "done"


@dsl.component(base_image="python:3.11-slim")
def cleanup(status: PipelineTaskFinalStatus) -> str:
    return f"cleanup saw {status.state}"


@dsl.pipeline(name="sample-exit-handler")
def exit_handler_pipeline(fail: bool = False) -> None:
    with dsl.ExitHandler(cleanup()):
        work(fail=fail)
