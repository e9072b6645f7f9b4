# Sourced by scripts/test and scripts/example, from the repository root: their progress
# lines and the binaries of the test control plane.

# The seconds the sourcing script has run are counted from here.
start=$SECONDS

# log MESSAGE...: a progress line on stderr, named after the script, with the time of
# day and the seconds since it started.
log() { printf '[%s %s +%ss] %s\n' "$(basename "$0")" "$(date +%T)" "$((SECONDS - start))" "$*" >&2; }

# kube_bin exports HUBPLOY_KUBE_BIN, the folder of the control plane's binaries:
# testenv/kube/build.sh builds them once per version and finds them in its cache after.
kube_bin() {
	log "building the test control plane (cached after the first run)"
	HUBPLOY_KUBE_BIN=$(testenv/kube/build.sh | tail -n 1)
	export HUBPLOY_KUBE_BIN
	log "control plane binaries: $HUBPLOY_KUBE_BIN"
}
