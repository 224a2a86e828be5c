"""Will /deploy find a model in the runs of this pipeline?

Read from the compiled pipeline (the pipeline check compiles it) with the rule /deploy applies to a
finished run (pipeline/outputs.py): `deployment.<env>.model` when set, else the output named
`model`, else the one system.Model artifact. A deployment section whose model output does not
exist otherwise passes every other check and fails only at the first /deploy, after a full run.
"""

from __future__ import annotations

from . import Context, Result, deploy_command, fail, ok, rel, skip

NAME = "model"


def check(ctx: Context) -> list[Result]:
    if ctx.config is None or not ctx.environments:
        return [skip(NAME, "no deployment section: nothing is deployed")]
    package = ctx.facts.get("package")
    if package is None:
        return [skip(NAME, "needs the compiled pipeline (see the pipeline line)")]
    from ...pipeline.outputs import MODEL_OUTPUT, MODEL_TYPE, model_outputs, output_artifacts

    settings = ctx.config.pipeline
    pipeline = f"{rel(settings.file, ctx.cwd)}:{settings.function}"
    listed = ", ".join(str(o) for o in output_artifacts(package.spec)) or "none"
    results: list[Result] = []
    for name, env in ctx.environments.items():
        command = deploy_command(name)
        chosen = env.get("model") or None
        found = model_outputs(package.spec, chosen)
        if not found and chosen:
            task, output = chosen.get("task"), chosen.get("output") or MODEL_OUTPUT
            named = f"output {output!r}" + (f" of task {task!r}" if task else "")
            results.append(fail(NAME, f"{name}: deployment.{name}.model names {named}, which {pipeline} does not "
                                      f"have (its output artifacts: {listed})",
                                f"set deployment.{name}.model (task, output) to the model among those outputs, "
                                "or add that output to the pipeline", (command,)))
        elif not found:
            results.append(fail(NAME, f"{name}: {pipeline} outputs no model, so /deploy would find nothing to "
                                      f"deploy: it takes the output artifact named {MODEL_OUTPUT!r}, else the one "
                                      f"of type {MODEL_TYPE} (its output artifacts: {listed})",
                                "give the training step an output `model: Output[Model]`, or name the model "
                                f"output in deployment.{name}.model (task, output); or remove deployment.{name} "
                                "until the pipeline outputs a model", (command,)))
        elif len(found) > 1:
            results.append(fail(NAME, f"{name}: /deploy would find {len(found)} models in each run "
                                      f"({', '.join(str(o) for o in found)}) and refuses to guess",
                                f"set deployment.{name}.model.task (and output) to the one to deploy", (command,)))
        else:
            results.append(ok(NAME, f"{name}: /deploy deploys {found[0]}"))
    return results
