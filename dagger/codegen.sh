#!/usr/bin/env bash
# Writes the Go bindings of a Dagger module (dagger.gen.go and internal/dagger,
# internal/querybuilder, internal/telemetry) with Dagger's own codegen, offline,
# as `dagger develop` would: the core schema from `introspect`, with the types
# the engine hides from module SDKs (Engine*, Host) scrubbed, then `codegen
# generate-module`. For a module without dependencies (this repository's).
#
#   dagger/codegen.sh [REPO_ROOT]     # default: this repository
#
# Codegen runs in a copy of what the engine would load (dagger.json's include
# list and the module source), so its `go mod tidy` changes nothing here; only
# the generated files are copied back. Needs HUBPLOY_DAGGER_ENV (provision.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "${1:-$here/..}" && pwd)
[[ -n ${HUBPLOY_DAGGER_ENV:-} ]] || { echo "codegen.sh: HUBPLOY_DAGGER_ENV is not set; run: eval \"\$(dagger/provision.sh | tail -n 1)\"" >&2; exit 1; }
bin=$HUBPLOY_DAGGER_ENV/bin
. "$HUBPLOY_DAGGER_ENV/env.sh"
name=$(sed -n 's/^ *"name": *"\([^"]*\)".*/\1/p' "$root/dagger.json" | head -n 1)
src=$(sed -n 's/^ *"source": *"\([^"]*\)".*/\1/p' "$root/dagger.json" | tail -n 1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin/introspect" --version "$DAGGER_VERSION" introspect >"$tmp/core.json" 2>"$tmp/introspect.log"
"$bin/dtool" hide-types -in "$tmp/core.json" -out "$tmp/schema.json" Engine EngineCache EngineCacheEntry EngineCacheEntrySet Host

# The files the engine loads: dagger.json and the module source (dagger.json
# includes nothing else: the module does not compile hubploy).
mkdir -p "$tmp/ctx"
(cd "$root" && cp dagger.json "$tmp/ctx/" && cp -r "$src" "$tmp/ctx/$src")
rm -rf "$tmp/ctx/$src/dagger.gen.go" "$tmp/ctx/$src/internal/dagger" "$tmp/ctx/$src/internal/querybuilder" "$tmp/ctx/$src/internal/telemetry"
(cd "$tmp/ctx" && GOFLAGS=-mod=mod "$bin/codegen" generate-module --output "$tmp/ctx" \
	--module-source-path "$tmp/ctx/$src" --module-name "$name" \
	--introspection-json-path "$tmp/schema.json" >"$tmp/codegen.log" 2>&1) ||
	{ tail -n 20 "$tmp/codegen.log" >&2; exit 1; }
rm -rf "$root/$src/internal/dagger" "$root/$src/internal/querybuilder" "$root/$src/internal/telemetry"
mkdir -p "$root/$src/internal"
cp "$tmp/ctx/$src/dagger.gen.go" "$root/$src/"
cp -r "$tmp/ctx/$src/internal/dagger" "$tmp/ctx/$src/internal/querybuilder" "$tmp/ctx/$src/internal/telemetry" "$root/$src/internal/"
echo "codegen.sh: wrote the bindings of module $name in $root/$src" >&2
