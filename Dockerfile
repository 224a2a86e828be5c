# syntax=docker/dockerfile:1
#
# The kfops Action's image (`runtime: docker` in action.yml, published as the `docker://` image
# that action.yml names). Its entry point is the Action itself, `kfops-action`, which reads the
# standard GitHub Actions environment (GITHUB_EVENT_PATH, GITHUB_API_URL, INPUT_*, ...).
#
#   docker build -t kfops-action .
#
# Two stages: `build` installs the pinned dependencies (requirements/action.lock.txt) and kfops
# into a virtual environment; the final image copies that environment onto a fresh slim base, so
# no pip, pip cache, build dependency or wheel file is left behind. There is no compiler in either
# stage: dependencies come as wheels only (`--only-binary=:all:` fails the build rather than
# compile), except kfp-server-api, which publishes no wheel and is pure Python (setuptools builds
# it without a compiler).
# Every file pip installs is checked against the lock's hashes (--require-hashes), and so is the
# setuptools that builds kfp-server-api and kfops (requirements/build.lock.txt, on PYTHONPATH for
# builds without isolation: pip checks no hashes of an isolated build's downloads). These commands
# are scripts/locked_install.py's, which the action's `runtime: python` runs.
#
# The base image is a tag here; the release builds with PYTHON_IMAGE=<tag>@sha256:<digest>
# (scripts/release.py base-image) and records it in the labels below.
#
# No USER: GitHub runs a Docker action as the image's user, with the job's workspace, event file
# and file-command files (GITHUB_OUTPUT, ...) bind-mounted from the runner, owned by the runner's
# account. GitHub's documentation for Docker actions says not to set USER, because a non-root
# user cannot write to those mounts (GITHUB_OUTPUT) and may not read the checkout. The container
# is single-purpose and short-lived; it holds no credentials of its own.
# No WORKDIR either: GitHub mounts the workspace at /github/workspace and makes it the working
# directory, whatever the image says.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
COPY requirements/action.lock.txt requirements/build.lock.txt /src/requirements/
# The environment has no pip of its own: the base image's pip installs into it (--python).
RUN python -m venv --without-pip /opt/kfops \
    && python -m pip install --no-cache-dir --require-hashes --only-binary=:all: \
        --target /tmp/build-tools -r /src/requirements/build.lock.txt \
    && PYTHONPATH=/tmp/build-tools python -m pip --python /opt/kfops/bin/python install --no-cache-dir \
        --require-hashes --no-build-isolation --only-binary=:all: --no-binary=kfp-server-api \
        -r /src/requirements/action.lock.txt
COPY pyproject.toml README.md /src/
COPY kfops_action /src/kfops_action
RUN PYTHONPATH=/tmp/build-tools python -m pip --python /opt/kfops/bin/python install --no-cache-dir \
        --no-deps --no-build-isolation /src \
    && rm -rf /tmp/build-tools \
    && /opt/kfops/bin/python -c "import kfops_action.action_main, kfp, kubernetes"

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG PYTHON_IMAGE
ARG BASE_DIGEST=""
LABEL org.opencontainers.image.title="kfops-action" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}" \
      org.opencontainers.image.base.digest="${BASE_DIGEST}" \
      org.opencontainers.image.description="kfops GitHub Action: pull-request comments that build, run and deploy Kubeflow Pipelines models" \
      org.opencontainers.image.source="https://github.com/kfops/action" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
# git: kfops checks that the checkout is the pull request's pinned head commit. The workspace
# is owned by the runner's account, not by root, so git must be told to trust it
# (safe.directory); the only repositories this container sees are the job's own checkouts.
# Debian's git is not version-pinned: the base image is (PYTHON_IMAGE; by digest at release),
# and bookworm's point releases drop superseded versions, which would break a pinned build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*'
COPY --from=build /opt/kfops /opt/kfops
ENV PATH=/opt/kfops/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
ENTRYPOINT ["kfops-action"]
