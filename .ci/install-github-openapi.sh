#!/usr/bin/env bash
# Install GitHub's OpenAPI description (npm @octokit/openapi, pinned by .ci/package.json and
# .ci/package-lock.json) into .ci/node_modules, and cut it down to the operations kfops uses:
# .ci/state/github-openapi-subset.json (see cut-github-openapi.py). Tests put Prism in front of the
# fake GitHub with that subset (tests/fakes/github_prism.py).
#
# Idempotent: nothing is downloaded when the pinned version is there, and the subset is cut again
# only when it is missing or older than the description or the cut script. Needs Node 20+, npm
# and python3; uses npm's configured registry. The lock carries no registry URLs; to refresh it:
#   npm install --package-lock-only --omit-lockfile-registry-resolved --ignore-scripts
set -euo pipefail
cd "$(dirname "$0")"

for tool in node npm python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "install-github-openapi.sh: $tool is required (Node 20+ with npm, Python 3)" >&2
        exit 1
    fi
done

want="$(node -p 'require("./package.json").dependencies["@octokit/openapi"]')"
have="$(node -p 'try { require("./node_modules/@octokit/openapi/package.json").version } catch (e) { "" }')"
if [ "$have" != "$want" ]; then
    if [ -d node_modules ]; then
        # Add what is missing, keep what is there (Prism may be in use by a running test).
        npm install --ignore-scripts --no-audit --no-fund --omit-lockfile-registry-resolved
    else
        npm ci --ignore-scripts --no-audit --no-fund
    fi
    echo "installed @octokit/openapi $want in .ci/node_modules"
else
    echo "@octokit/openapi $have already installed in .ci/node_modules"
fi

source=node_modules/@octokit/openapi/generated/api.github.com.json
subset=state/github-openapi-subset.json
if [ ! -f "$subset" ] || [ "$subset" -ot "$source" ] || [ "$subset" -ot cut-github-openapi.py ]; then
    python3 cut-github-openapi.py "$source" "$subset"
else
    echo "$subset is up to date"
fi
