#!/usr/bin/env bash
# Starts and stops a real Dagger engine, and a local registry for it, from what
# dagger/provision.sh built (HUBPLOY_DAGGER_ENV).
#
#   eval "$(dagger/engine.sh start)"   # prints the exports the dagger CLI needs
#   dagger/engine.sh stop              # leaves no process, mount, link or rule
#   dagger/engine.sh status
#
# The engine runs as root on this machine in its own mount and pid namespaces,
# pivot_root'ed into its Debian root filesystem (an overlay over the cached
# one, so the cache is never written): it mounts over /etc/resolv.conf and
# starts dnsmasq and runc, which a chroot would let escape. It keeps the host's
# network namespace, where CNI gives it the bridge dagger0 (10.87.0.0/16) with
# NAT; stop removes the bridge and the iptables rules CNI added.
#
# The registry (crane registry serve, in memory) listens on 127.0.0.1:5000 only;
# the engine pulls docker.io and ghcr.io images through it (the hubploy image
# the module runs, which the tests push there as a release pushes it to ghcr.io)
# and pushes to it over plain HTTP. start pushes the base image debian:bookworm into it, as
# 127.0.0.1:5000/library/debian:bookworm (so "debian:bookworm" resolves too).
#
# Environment: HUBPLOY_DAGGER_ENV (required), HUBPLOY_DAGGER_RUN (runtime
# folder, default /run/hubploy-dagger), HUBPLOY_DAGGER_STATE (the engine's
# cache, default ${HUBPLOY_CACHE_DIR:-~/.cache/hubploy}/dagger/state/<version>;
# kept between runs so that a second run finds its module builds),
# HUBPLOY_DAGGER_GC_MAX (the most the engine's cache may use, default 12GB).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run=${HUBPLOY_DAGGER_RUN:-/run/hubploy-dagger}
registry=127.0.0.1:5000
bridge=dagger0
start=$SECONDS
log() { printf '[dagger engine %s +%ss] %s\n' "$(date +%T)" "$((SECONDS - start))" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

load_env() {
	[[ -n ${HUBPLOY_DAGGER_ENV:-} ]] || die "HUBPLOY_DAGGER_ENV is not set; provision the engine with: eval \"\$(dagger/provision.sh | tail -n 1)\""
	[[ -f $HUBPLOY_DAGGER_ENV/env.sh ]] || die "$HUBPLOY_DAGGER_ENV holds no env.sh; run dagger/provision.sh again"
	# shellcheck source=/dev/null
	. "$HUBPLOY_DAGGER_ENV/env.sh"
	bin=$HUBPLOY_DAGGER_ENV/bin
	state=${HUBPLOY_DAGGER_STATE:-${HUBPLOY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hubploy}/dagger/state/$DAGGER_VERSION}
}

exports() {
	cat <<EOF
export _EXPERIMENTAL_DAGGER_RUNNER_HOST=unix://$run/engine.sock
export PATH=$bin:\$PATH
export HUBPLOY_DAGGER_REGISTRY=$registry
export HUBPLOY_DAGGER_STATE=$state
export DO_NOT_TRACK=1 DAGGER_NO_NAG=1
EOF
}

# running PID...: whether any of the processes is alive (a zombie is not).
running() {
	local p st
	for p; do
		st=$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) || continue
		[[ -n $st && $st != Z ]] && return 0
	done
	return 1
}

alive() { [[ -f $1 ]] && running "$(cat "$1")"; }

# ipt ARGS...: the engine's iptables (legacy), on the host's network namespace.
ipt() { chroot "$HUBPLOY_DAGGER_ENV/rootfs" iptables-legacy "$@"; }

cmd_start() {
	load_env
	[[ $(id -u) == 0 ]] || die "needs root"
	mkdir -p "$run"
	exec {lock}>"$run/.lock"
	flock -n "$lock" || die "another engine.sh is starting or stopping the engine in $run"
	if alive "$run/engine.pid"; then
		log "already running"
		exports
		return
	fi
	cleanup_leftovers
	mkdir -p "$run" "$state"
	cat /proc/sys/net/ipv4/ip_forward >"$run/ip_forward.orig"

	log "starting the registry on $registry"
	setsid "$bin/crane" registry serve --address "$registry" >"$run/registry.log" 2>&1 </dev/null {lock}>&- &
	echo $! >"$run/registry.pid"
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null && break
		alive "$run/registry.pid" || die "the registry exited: $(tail -n 5 "$run/registry.log")"
		sleep 0.1
	done
	"$bin/dtool" push "$HUBPLOY_DAGGER_ENV/images/debian-bookworm" "$registry/library/debian:bookworm" ||
		die "cannot push the base image to the registry"

	log "starting the engine (state: $state)"
	mkdir -p "$run/root" "$run/upper" "$run/work" "$run/sock"
	cp /etc/resolv.conf "$run/resolv.conf"
	# The state is kept between runs: the engine's garbage collector keeps it
	# under HUBPLOY_DAGGER_GC_MAX (a cold run fills about 5 GB).
	cat >"$run/engine.json" <<EOF
{"registries":{"$registry":{"http":true},"docker.io":{"mirrors":["$registry"]},"ghcr.io":{"mirrors":["$registry"]}},"gc":{"maxUsedSpace":"${HUBPLOY_DAGGER_GC_MAX:-12GB}"}}
EOF
	# The engine opens a database per client: as many files as allowed.
	ulimit -n "$(ulimit -Hn)"
	# --kill-child: when unshare dies (stop), its child, the namespace's init,
	# gets SIGTERM; when that init ends, the kernel kills the rest of the pid
	# namespace, and the mounts go with the mount namespace.
	setsid unshare --mount --pid --fork --propagation private --kill-child=SIGTERM \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		bash "$here/engine.sh" _enter "$HUBPLOY_DAGGER_ENV/rootfs" "$run" "$state" \
		"$GO_SDK_DIGEST" "$GOPROXY_FOR_MODULES" \
		>"$run/engine.log" 2>&1 </dev/null {lock}>&- &
	echo $! >"$run/engine.pid"

	local ok=
	for _ in $(seq 600); do
		alive "$run/engine.pid" || break
		if [[ -S $run/sock/engine.sock ]] && _EXPERIMENTAL_DAGGER_RUNNER_HOST=unix://$run/sock/engine.sock \
			DO_NOT_TRACK=1 timeout 20 "$bin/dagger" query --no-mod --silent <<<'{version}' >/dev/null 2>&1; then
			ok=1
			break
		fi
		sleep 0.2
	done
	if [[ -z $ok ]]; then
		log "the engine did not come up; its log ends with:"
		tail -n 30 "$run/engine.log" >&2 || true
		cmd_stop
		exit 1
	fi
	ln -sf sock/engine.sock "$run/engine.sock"
	log "engine $DAGGER_VERSION ready at unix://$run/engine.sock"
	exports
}

# Runs inside the new namespaces, as their pid 1 until it execs tini.
cmd_enter() {
	local rootfs=$1 run=$2 state=$3 digest=$4 goproxy=$5
	local root=$run/root
	mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$run/upper,workdir=$run/work" "$root"
	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --rbind /dev "$root/dev"
	mount -t tmpfs -o mode=755 tmpfs "$root/run"
	mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
	mkdir -p "$root/run/dagger" "$root/var/lib/dagger"
	mount --bind "$run/sock" "$root/run/dagger"
	mount --bind "$state" "$root/var/lib/dagger"
	cp "$run/resolv.conf" "$root/etc/resolv.conf"
	cp "$run/engine.json" "$root/etc/dagger/engine.json"
	mkdir -p "$root/.oldroot"
	cd "$root"
	pivot_root . .oldroot
	cd /
	umount -l /.oldroot
	rmdir /.oldroot
	export DAGGER_GO_SDK_MANIFEST_DIGEST=$digest
	# GOPROXY inside the containers of modules (go mod download, go build).
	export _DAGGER_ENGINE_SYSTEMENV_GOPROXY=$goproxy
	exec tini -s -- dagger-engine --config /etc/dagger/engine.toml \
		--addr unix:///run/dagger/engine.sock --network-name dagger --network-cidr 10.87.0.0/16
}

cmd_stop() {
	load_env
	mkdir -p "$run"
	if alive "$run/engine.pid"; then
		local pid child
		pid=$(cat "$run/engine.pid")
		child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
		log "stopping the engine"
		# unshare ignores SIGTERM while it waits: the namespace's init (tini)
		# takes it and hands it to the engine.
		kill -TERM $child "$pid" 2>/dev/null || true
		for _ in $(seq 150); do
			running "$pid" $child || break
			sleep 0.2
		done
		kill -KILL "$pid" $child 2>/dev/null || true
	fi
	if alive "$run/registry.pid"; then
		log "stopping the registry"
		kill -TERM "$(cat "$run/registry.pid")" 2>/dev/null || true
	fi
	cleanup_leftovers
	log "stopped"
}

# What the engine leaves in the host's namespaces: CNI's bridge, its iptables
# chains and rules, the forwarding switch, and empty cgroups of runc's.
cleanup_leftovers() {
	ip link del "$bridge" 2>/dev/null || true
	if [[ -n ${HUBPLOY_DAGGER_ENV:-} && -d $HUBPLOY_DAGGER_ENV/rootfs ]]; then
		local table chain
		for table in nat filter; do
			# Rules of the built-in chains that jump to CNI's chains, last first
			# so the numbers hold, then CNI's chains.
			for chain in PREROUTING INPUT FORWARD OUTPUT POSTROUTING; do
				ipt -t "$table" -L "$chain" --line-numbers -n 2>/dev/null |
					awk '$2 ~ /^CNI-/ { print $1 }' | sort -rn | while read -r n; do
					ipt -t "$table" -D "$chain" "$n" 2>/dev/null || true
				done || true
			done
			for chain in $(ipt -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-/ { print $2 }'); do
				ipt -t "$table" -F "$chain" 2>/dev/null || true
			done
			for chain in $(ipt -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-/ { print $2 }'); do
				ipt -t "$table" -X "$chain" 2>/dev/null || true
			done
		done
	fi
	if [[ -f $run/ip_forward.orig ]]; then
		cat "$run/ip_forward.orig" >/proc/sys/net/ipv4/ip_forward
	fi
	find /sys/fs/cgroup -depth -type d -path '*/buildkit*' -exec rmdir {} + 2>/dev/null || true
	rm -rf "$run/root" "$run/upper" "$run/work" "$run/sock" "$run/engine.sock" "$run"/*.pid "$run/ip_forward.orig"
}

cmd_status() {
	load_env
	if alive "$run/engine.pid"; then
		echo "engine running: unix://$run/engine.sock"
	else
		echo "engine not running"
		return 1
	fi
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
_enter)
	shift
	cmd_enter "$@"
	;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
