#!/usr/bin/env bash
# Install Stoplight Prism, pinned by .ci/package.json and .ci/package-lock.json, into
# .ci/node_modules (tests find it at .ci/node_modules/.bin/prism). Idempotent: does nothing when
# the pinned version is already there. Needs Node 20+ and npm; uses npm's configured registry.
#
# The lock file carries no registry URLs (npm resolves each pinned name@version from the
# configured registry and checks it against the lock's integrity hash). To refresh it:
#   npm install --package-lock-only --omit-lockfile-registry-resolved --ignore-scripts
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "install-prism.sh: Node 20+ and npm are required (e.g. apt-get install nodejs npm)" >&2
    exit 1
fi

want="$(node -p 'require("./package.json").dependencies["@stoplight/prism-cli"]')"
if [ -x node_modules/.bin/prism ]; then
    have="$(node_modules/.bin/prism --version 2>/dev/null || true)"
    if [ "$have" = "$want" ]; then
        echo "prism $have already installed in .ci/node_modules"
        exit 0
    fi
fi

# ci: exactly the lock, nothing else; no install scripts (Prism needs none).
npm ci --ignore-scripts --no-audit --no-fund
echo "installed prism $(node_modules/.bin/prism --version) in .ci/node_modules"
