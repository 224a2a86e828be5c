#!/usr/bin/env bash
# action.yml's `runtime: docker`: run kfops-action in the kfops image, as GitHub would run a Docker
# action, but from a shell step (see action.yml for why there is no `docker://` step).
#
# The image: KFOPS_IMAGE (the `image` input; a release pins its published image there by digest),
# pulled when this runner does not have it. Empty: this copy of the action is not a release, so
# the image is built from its own Dockerfile, tagged by a hash of what the build reads (a runner
# that keeps its images builds each version once).
#
# The container gets what a Docker action gets, under the same paths: the workspace at
# /github/workspace (its working directory), the event at /github/workflow/event.json, HOME at
# /github/home, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY under /github/file_commands, the job's
# GITHUB_*, RUNNER_*, ACTIONS_* and INPUT_* variables, the Kubeflow variables, and the kubeconfig
# as /github/home/kubeconfig. Files go in and out with `docker cp`, not bind mounts: bind mounts
# need paths as the Docker engine sees them, which differ from the step's when the job itself runs
# in a container (a `container:` job, act, a runner in Kubernetes). Variables are passed by name
# (`-e NAME`), so no value appears on a command line. It joins the host's network, as the step
# does: a Kubeflow reached through an earlier step's port-forward or VPN is reachable from it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${KFOPS_IMAGE:-}"

if ! command -v docker >/dev/null 2>&1; then
  echo "::error title=kfops::runtime docker needs the docker CLI and a Docker engine on the runner; use runtime: python on this runner"
  exit 2
fi

if [ -z "$image" ]; then
  sum="$(cd "$here" && { cat Dockerfile .dockerignore requirements/action.lock.txt requirements/build.lock.txt pyproject.toml README.md
                          find kfops_action -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
                            | LC_ALL=C sort -z | xargs -0 cat; } | sha256sum | cut -c1-16)"
  image="kfops-action:src-$sum"
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "::group::Building the kfops image from $here/Dockerfile (this copy of the action names no published image)"
    docker build --network host --tag "$image" "$here" >&2
    echo "::endgroup::"
  fi
elif ! docker image inspect "$image" >/dev/null 2>&1; then
  echo "Pulling $image" >&2
  docker pull --quiet "$image" >&2
fi

stage="$(mktemp -d "${RUNNER_TEMP:-/tmp}/kfops-container-XXXXXX")"
cid=""
cleanup() {
  if [ -n "$cid" ]; then docker rm --force "$cid" >/dev/null 2>&1 || true; fi
  rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# What the container finds under /github.
umask 077
mkdir -p "$stage/github/workflow" "$stage/github/file_commands" "$stage/github/home" "$stage/github/workspace" \
         "$stage/github/runner_temp" "$stage/out"
: > "$stage/github/file_commands/output"
: > "$stage/github/file_commands/summary"
if [ -n "${GITHUB_EVENT_PATH:-}" ]; then
  cp "$GITHUB_EVENT_PATH" "$stage/github/workflow/event.json"
fi
container_env=(
  -e GITHUB_EVENT_PATH=/github/workflow/event.json
  -e GITHUB_WORKSPACE=/github/workspace
  -e GITHUB_OUTPUT=/github/file_commands/output
  -e GITHUB_STEP_SUMMARY=/github/file_commands/summary
  -e HOME=/github/home
  -e RUNNER_TEMP=/github/runner_temp
)
if [ -n "${KUBECONFIG:-}" ] && [ -f "$KUBECONFIG" ]; then
  cp "$KUBECONFIG" "$stage/github/home/kubeconfig"
  # A copy for this container only: kfops takes it into memory and removes it before it runs
  # pull-request code.
  container_env+=(-e KUBECONFIG=/github/home/kubeconfig -e KFOPS_KUBECONFIG_EPHEMERAL=1)
fi

# The job's variables, by name. Paths of this side are replaced above; the rest stay out.
while IFS= read -r -d '' entry; do
  name="${entry%%=*}"
  case "$name" in
    GITHUB_EVENT_PATH|GITHUB_WORKSPACE|GITHUB_OUTPUT|GITHUB_STEP_SUMMARY|GITHUB_ENV|GITHUB_PATH|GITHUB_STATE) ;;
    GITHUB_ACTION_PATH|RUNNER_TEMP|RUNNER_TOOL_CACHE|RUNNER_WORKSPACE|KFOPS_IMAGE|KFOPS_BIN|KFOPS_KUBECONFIG*) ;;
    GITHUB_*|RUNNER_*|ACTIONS_*|INPUT_*|KF_PIPELINES_*|CI) container_env+=(-e "$name") ;;
  esac
done < <(env -0)

cid="$(docker create --network host --workdir /github/workspace "${container_env[@]}" "$image")"
docker cp "$stage/github" "$cid:/"
if [ -n "${GITHUB_WORKSPACE:-}" ] && [ -d "$GITHUB_WORKSPACE" ]; then
  docker cp "$GITHUB_WORKSPACE/." "$cid:/github/workspace"
fi

status=0
docker start --attach "$cid" || status=$?

# The step's outputs and summary, as kfops wrote them inside.
docker cp "$cid:/github/file_commands/." "$stage/out"
if [ -n "${GITHUB_OUTPUT:-}" ]; then cat "$stage/out/output" >> "$GITHUB_OUTPUT"; fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$stage/out/summary" >> "$GITHUB_STEP_SUMMARY"; fi
exit "$status"
