#!/usr/bin/env bash
# Runs the control plane of the tests for manual work, until Ctrl-C:
#
#   testenv/kube/cluster.sh [-kubeconfig FILE] [-san NAME]...
#
# It builds the binaries when needed (see build.sh; HUBPLOY_KUBE_BIN skips
# that), then prints an "export KUBECONFIG=..." line to paste in another shell.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HUBPLOY_KUBE_BIN=${HUBPLOY_KUBE_BIN:-$("$root/testenv/kube/build.sh")}
export HUBPLOY_KUBE_BIN

# Built rather than go run: go run does not pass SIGTERM on, and the cluster
# must hear it to clean up.
tool=$(mktemp -d)
trap 'rm -rf "$tool"' EXIT
(cd "$root" && go build -o "$tool/kubecluster" ./internal/testenv/cmd/kubecluster)
"$tool/kubecluster" "$@"
