#!/usr/bin/env bash
# Measures what a CI runner pays for its first `dagger call`: an engine started on
# an empty state (a new temporary folder), the call, and the same call again.
#
#   bash dagger/coldcall.sh [-m MODULE] [--] ARGS...
#   bash dagger/coldcall.sh -- --repo=hubs-example --age-key=file:hubs-example/example-age-key.txt \
#       --chart-mirror=https://hub.jupyter.org/helm-chart/=offline-charts validate
#
# MODULE defaults to this repository's (hubploy's), whose functions run the hubploy
# image: before the first call, it is built from this checkout and pushed into the
# engine's local registry, which serves ghcr.io's images (as a release publishes it;
# not timed). A third call changes a constructor argument (an extra chart mirror
# nothing uses), so that Dagger's function cache cannot answer it: a warm, uncached
# call. For each call it prints the wall time and the engine's own spans:
# "initializing module" (codegen and the module's compile), the constructor call
# (the module runtime's first start) and the function's (for hubploy's, with the
# image's pull); the plain progress of the calls goes to $COLDCALL_LOG
# (default: a file in the temporary folder, named at the end). It needs the
# provisioned engine (HUBPLOY_DAGGER_ENV, see dagger/README.md) and refuses to run
# while another engine runs: it would take its socket. Nothing asserts a time.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
module=$(cd "$here/.." && pwd)
if [[ ${1:-} == -m ]]; then
	module=$(cd "$2" && pwd)
	shift 2
fi
[[ ${1:-} == -- ]] && shift
(($# > 0)) || {
	sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
[[ -n ${HUBPLOY_DAGGER_ENV:-} ]] || {
	echo "coldcall.sh: HUBPLOY_DAGGER_ENV is not set: eval \"\$(bash dagger/provision.sh | tail -n 1)\"" >&2
	exit 2
}
if bash "$here/engine.sh" status >/dev/null 2>&1; then
	echo "coldcall.sh: an engine is running (bash dagger/engine.sh stop, then again)" >&2
	exit 2
fi

state=$(mktemp -d /tmp/hubploy-coldcall.XXXXXX)
log=${COLDCALL_LOG:-$state.log}
cleanup() {
	bash "$here/engine.sh" stop >/dev/null 2>&1 || true
	rm -rf "$state" "$state.out"
}
trap cleanup EXIT
eval "$(HUBPLOY_DAGGER_STATE=$state bash "$here/engine.sh" start 2>/dev/null)"

if [[ -d $module/internal/cliimage ]]; then
	(cd "$module" && go run ./internal/cliimage/publish --repository 127.0.0.1:5000/hubploy/hubploy \
		--platform "linux/$(go env GOARCH)" >/dev/null)
fi

name=$(sed -nE 's/^ *"name": *"([^"]+)".*/\1/p' "$module/dagger.json" | head -n 1)

# spans prints the spans of one call's plain progress that say where the time went:
# the module's initialization, its constructor and its functions, in seconds.
spans() {
	sed 's/\x1b\[[0-9;]*m//g' | sed -nE 's/^[0-9]+ *: (┆ )?(.*) DONE \[(([0-9]+)m)?([0-9.]+)s\].*/\1|\2|\4|\5/p' |
		while IFS='|' read -r nested span minutes seconds; do
			seconds=$(echo "${minutes:-0} * 60 + $seconds" | bc)
			if [[ $span == "initializing module" ]]; then
				printf '  initializing module (codegen, compile)\t%s s\n' "$seconds"
			elif [[ -z $nested && ${span,,} == "${name,,}" ]]; then
				printf '  constructor (module runtime start)\t%s s\n' "$seconds"
			elif [[ -z $nested && ${span,,} == "${name,,}".* ]]; then
				printf '  %s\t%s s\n' "$span" "$seconds"
			fi
		done
}

: >"$log"
for round in "first call, empty engine state" "the same call again" "uncached call, warm engine"; do
	extra=()
	[[ $round == uncached* ]] && extra=(--chart-mirror="https://coldcall.invalid/$(date +%s%N)/=coldcall")
	began=$(date +%s.%N)
	status=0
	(cd "$module" && dagger call -m "$module" --progress=plain "${extra[@]}" "$@") >"$state.out" 2>&1 || status=$?
	ended=$(date +%s.%N)
	{
		echo "== $round"
		cat "$state.out"
	} >>"$log"
	printf '%s: %.1f s (exit %d)\n' "$round" "$(echo "$ended - $began" | bc)" "$status"
	spans <"$state.out" | column -t -s $'\t'
done
echo "progress of the calls: $log"
