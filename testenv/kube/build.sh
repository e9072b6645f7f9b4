#!/usr/bin/env bash
# Builds the binaries of the test control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok) from the Go module proxy
# and prints the folder holding them as the last line of stdout, for
# HUBPLOY_KUBE_BIN:
#
#   export HUBPLOY_KUBE_BIN=$(testenv/kube/build.sh)
#
# The folder is keyed by the Go version and the tools modules, so a second
# run is a cache hit that builds nothing. A build from scratch takes about
# 15 CPU minutes and up to ~3 GB of memory (linking kube-apiserver).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${HUBPLOY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hubploy}/kube
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# The tools modules are their own main modules: a go.work further up must not
# pull them into the hubploy build, nor the reverse.
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0
# Everything needed is pinned in the go.sum files; a build must not change them.
export GOFLAGS="${GOFLAGS:-} -mod=readonly"

log() { printf '[kube build %s] %s\n' "$(date +%T)" "$*" >&2; }

# build.sh is part of the key because it sets the ldflags.
key=$(
	cd "$here"
	{
		go env GOVERSION GOOS GOARCH
		cat build.sh go.mod go.sum etcd/go.mod etcd/go.sum kwok/go.mod kwok/go.sum
	} | sha256sum | cut -c1-16
)
dest=$cache/$key

# The folder only ever appears by rename of a finished build, so its presence
# means every binary is in it.
hit() {
	[[ -d $dest/bin ]] || return 1
	log "cache hit: $dest/bin"
	echo "$dest/bin"
}
hit && exit 0

mkdir -p "$cache"
# One build at a time: two would fight over the cores and the memory. The
# lock is held until this script and its go build children end, however they
# end, so a temporary folder found by the holder was left by a killed build.
exec {lock}>"$cache/.lock"
if ! flock -n "$lock"; then
	log "waiting for another build to finish"
	flock "$lock"
	hit && exit 0
fi
rm -rf "$cache"/.build-*
tmp=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"

# step NAME MODULE_DIR OUTPUT LDFLAGS PACKAGE...: one go build per tools
# module, so packages shared by the three Kubernetes binaries compile once.
step() {
	local name=$1 dir=$2 out=$3 ldflags=$4
	shift 4
	local start=$SECONDS
	log "building $name ..."
	(cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out" "$@")
	log "built $name in $((SECONDS - start))s"
}

total=$SECONDS
log "building into $dest (from scratch about 13 min on 2 cores; much less with a warm Go build cache)"

# Without these the API server reports v0.0.0-master+$Format:%H$, which
# clients such as helm cannot parse. The module zip carries no commit, so
# gitCommit is left empty rather than a placeholder; buildDate is the release
# time of the module, so the binaries do not depend on when they were built.
kube_version=$(cd "$here" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
kube_time=$(cd "$here" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
IFS=. read -r kube_major kube_minor _ <<<"${kube_version#v}"
kube_ldflags=
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kube_ldflags+=" -X $pkg.gitVersion=$kube_version"
	kube_ldflags+=" -X $pkg.gitMajor=$kube_major -X $pkg.gitMinor=$kube_minor"
	kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$kube_time"
	kube_ldflags+=" -X $pkg.gitCommit="
done

step "kube-apiserver, kube-controller-manager, kube-scheduler ($kube_version)" "$here" "$tmp/bin/" "$kube_ldflags" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler

# The etcd main package is the root of go.etcd.io/etcd/server/v3, which go
# build would name "server".
etcd_version=$(cd "$here/etcd" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
step "etcd ($etcd_version)" "$here/etcd" "$tmp/bin/etcd" "" go.etcd.io/etcd/server/v3

kwok_version=$(cd "$here/kwok" && go list -m -f '{{.Version}}' sigs.k8s.io/kwok)
step "kwok ($kwok_version)" "$here/kwok" "$tmp/bin/" "-X sigs.k8s.io/kwok/pkg/consts.Version=${kwok_version#v}" sigs.k8s.io/kwok/cmd/kwok

for b in "${bins[@]}"; do
	[[ -x $tmp/bin/$b ]] || {
		log "missing $b after the build"
		exit 1
	}
done

mv -T "$tmp" "$dest"
log "done in $((SECONDS - total))s: $dest/bin"
echo "$dest/bin"
