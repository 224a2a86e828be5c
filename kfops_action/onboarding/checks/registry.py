"""Can the image builder push? Registry credentials are looked up where the builders read them.

- docker builder: KFOPS_REGISTRY_USERNAME / KFOPS_REGISTRY_PASSWORD, or the action inputs
  registry-username / registry-password (INPUT_REGISTRY-USERNAME ...). Without them no login
  happens, which works only when the runner is already logged in (docker/login-action).
- kaniko builder: the Secret `images.kaniko.registry_secret` in the build namespace, whose key
  `images.kaniko.registry_secret_key` (default .dockerconfigjson) is mounted into each build pod.
  Its presence, and that key, are checked by the namespaces line; here, that it is configured at all.

Only names are printed, never values.
"""

from __future__ import annotations

from . import Context, Result, fail, ok, skip, warn

NAME = "registry"
BUILD_USERS = ("/build", "/build_run", "kfc build")


def check(ctx: Context) -> list[Result]:
    if ctx.config is None:
        return [skip(NAME, "needs a valid kfops.yaml")]
    images = ctx.section("images")
    if not images.get("build"):
        return [skip(NAME, "no images to build (images.build is empty)")]
    registry = images.get("registry")
    if not registry:
        return [fail(NAME, "images.build lists images but images.registry is not set",
                     "set images.registry, e.g. registry.example.com/your-org/your-model", BUILD_USERS)]
    if ctx.builder == "docker":
        return [_docker(ctx, registry)]
    if ctx.builder == "kaniko":
        secret = (images.get("kaniko") or {}).get("registry_secret")
        if not secret:
            return [warn(NAME, f"images.kaniko.registry_secret is not set: Kaniko pushes to {registry} without "
                               "credentials", "create a kubernetes.io/dockerconfigjson Secret in the build namespace "
                                              "and name it in images.kaniko.registry_secret")]
        return [ok(NAME, f"Kaniko pushes to {registry} with the Secret {secret!r} (see the namespaces line)")]
    return [fail(NAME, "images.build lists images but images.builder is 'none'",
                 "set images.builder to docker or kaniko", BUILD_USERS)]


def _docker(ctx: Context, registry: str) -> Result:
    from ...errors import ConfigError
    from ...images.docker import credentials_from_env

    try:
        credentials = credentials_from_env(ctx.env, registry)
    except ConfigError as exc:
        return fail(NAME, exc.what, exc.fix, BUILD_USERS)
    if credentials is None:
        return warn(NAME, f"no registry credentials in the environment (KFOPS_REGISTRY_USERNAME/_PASSWORD or the "
                          f"registry-username/-password inputs): pushing to {registry} works only if docker is "
                          "already logged in", "pass registry-username and registry-password to the action, "
                                               "or log in before it (docker/login-action)")
    host = credentials.host or "Docker Hub"
    return ok(NAME, f"docker logs in to {host} as {credentials.username} before pushing to {registry}")
