"""Does each environment's InferenceService template render, and is its endpoint-check sample there?

Rendered exactly as `/deploy` renders it (deploy.template.load_manifest), with a stand-in model
URI, so a broken placeholder, a YAML error or a deployment function that raises shows up now
rather than in the middle of a release. No cluster is needed.
"""

from __future__ import annotations

import json

from . import Context, Result, deploy_command, fail, ok, rel, skip

NAME = "template"
SAMPLE_URI = "s3://kfops-doctor/model"


def check(ctx: Context) -> list[Result]:
    if ctx.config is None or not ctx.environments:
        return [skip(NAME, "no deployment section: nothing is deployed")]
    from ...deploy.template import TemplateValues, load_manifest
    from ...errors import KfopsError

    results: list[Result] = []
    manifests = ctx.facts.setdefault("manifests", {})
    for name, env in ctx.environments.items():
        command = deploy_command(name)
        values = TemplateValues(name=env["inference_service"], namespace=env["namespace"], model_uri=SAMPLE_URI,
                                canary_percent=int(env.get("canary_percent", 10)))
        try:
            manifest = load_manifest(env.get("template"), ctx.config.base_dir, values,
                                     where=f"deployment.{name}.template")
        except KfopsError as exc:
            detail = f"; {exc.problems[0]}" if exc.problems else ""
            results.append(fail(NAME, f"{name}: {exc.what}{detail}", exc.fix or "fix the template", (command,)))
            continue
        manifests[name] = manifest
        sample = _sample_problem(ctx, env)
        if sample:
            results.append(fail(NAME, f"{name}: {sample}", "fix deployment."
                                f"{name}.endpoint_check.sample (a JSON file, relative to kfops.yaml)", (command,)))
            continue
        source = env.get("template")
        shown = "inline template" if isinstance(source, dict) else str(source)
        check_text = "endpoint check sample ok" if (env.get("endpoint_check") or {}).get("sample") \
            else "no endpoint check configured"
        results.append(ok(NAME, f"{name}: {shown} renders InferenceService "
                                f"{env['namespace']}/{env['inference_service']}; {check_text}"))
    return results


def _sample_problem(ctx: Context, env: dict) -> str | None:
    sample = (env.get("endpoint_check") or {}).get("sample")
    if not sample:
        return None
    path = ctx.config.base_dir / sample
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"endpoint check sample {rel(path, ctx.cwd)} does not exist"
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"endpoint check sample {rel(path, ctx.cwd)} is not JSON: {exc}"
    return None
