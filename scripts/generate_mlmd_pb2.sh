#!/usr/bin/env bash
# Regenerate kfops_action/metrics/mlmd_min_pb2.py (and its .pyi) from mlmd_min.proto.
#
# The generated module is committed, so neither users nor CI need protoc. It is generated with
# grpcio-tools 1.80.0 (protoc 31.1): its code needs protobuf >= 6.31.1 at run time, which kfp 2.17
# already requires. grpcio-tools >= 1.85 would emit code for protobuf 7, which conflicts with kfp,
# so the version is pinned. The tools go into a throwaway venv outside the repository and are
# removed afterwards: nothing here becomes a dependency of kfops.
#
#   bash scripts/generate_mlmd_pb2.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check grpcio-tools==1.80.0 protobuf==6.33.6
# -I . so the descriptor is registered as "kfops_action/metrics/mlmd_min.proto" (a unique name in
# protobuf's global pool).
"$venv/bin/python" -m grpc_tools.protoc -I . --python_out=. --pyi_out=. \
    kfops_action/metrics/mlmd_min.proto
echo "wrote kfops_action/metrics/mlmd_min_pb2.py and mlmd_min_pb2.pyi"
