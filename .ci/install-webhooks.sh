#!/usr/bin/env bash
# Install GitHub's webhook payload examples (npm @octokit/webhooks-examples) and the JSON schemas
# of those payloads (npm @octokit/webhooks-schemas), pinned by .ci/package.json and
# .ci/package-lock.json, into .ci/node_modules. The Action's end-to-end tests
# (tests/test_action_e2e.py) build their issue_comment events from the examples and validate each
# event they send against the schema first (tests/e2e/webhooks.py).
#
# Idempotent: nothing is downloaded when the pinned versions are there. Needs Node 20+ and npm;
# uses npm's configured registry. The lock carries no registry URLs; to refresh it:
#   npm install --package-lock-only --omit-lockfile-registry-resolved --ignore-scripts
set -euo pipefail
cd "$(dirname "$0")"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
        echo "install-webhooks.sh: $tool is required (Node 20+ with npm)" >&2
        exit 1
    fi
done

version() {
    node -p "try { require('./node_modules/$1/package.json').version } catch (e) { '' }"
}

missing=""
for package in @octokit/webhooks-examples @octokit/webhooks-schemas; do
    want="$(node -p "require('./package.json').dependencies['$package']")"
    if [ "$(version "$package")" != "$want" ]; then
        missing="$missing $package@$want"
    fi
done

if [ -n "$missing" ]; then
    if [ -d node_modules ]; then
        # Add what is missing, keep what is there (Prism may be in use by a running test).
        npm install --ignore-scripts --no-audit --no-fund --omit-lockfile-registry-resolved
    else
        npm ci --ignore-scripts --no-audit --no-fund
    fi
    echo "installed$missing in .ci/node_modules"
else
    echo "@octokit/webhooks-examples and @octokit/webhooks-schemas already installed in .ci/node_modules"
fi
