#!/usr/bin/env bash
# Real components for the metrics tests (tests/test_metrics_*.py), both under .ci/state (ignored):
#
# - .ci/state/mlmd-venv: ml-metadata 1.17.1 (ML Metadata's own store, C++ core on SQLite) and
#   sonora 0.2.3 (a grpc-web server), served on loopback by tests/fakes/mlmd_server.py. A venv of
#   its own because ml-metadata 1.17 pins protobuf<5 and sonora urllib3<2, both conflicting with
#   kfp 2.17; ml-metadata 1.21 (protobuf 6) has only manylinux_2_39 wheels (glibc 2.39), which
#   Debian 12 does not have. The tests find it through KFOPS_MLMD_PYTHON.
# - .ci/state/mermaid: Mermaid's own parser (npm mermaid + jsdom, pinned by .ci/mermaid's
#   lockfile), to check that the charts posted in PR comments parse. KFOPS_MERMAID_PARSER.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p state

venv=state/mlmd-venv
if ! "$venv/bin/python" -c "import ml_metadata, sonora" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check ml-metadata==1.17.1 sonora==0.2.3
fi

mkdir -p state/mermaid
cp mermaid/package.json mermaid/package-lock.json mermaid/parse.mjs mermaid/markdown.mjs state/mermaid/
if ! (cd state/mermaid && node -e "require.resolve('mermaid'); require.resolve('jsdom'); require.resolve('markdown-it')" 2>/dev/null); then
    (cd state/mermaid && npm ci --no-audit --no-fund --loglevel=error)
fi
