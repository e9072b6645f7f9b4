#!/usr/bin/env bash
# Builds (or reuses from the cache) everything a real Dagger engine needs to run
# here, offline but for the Go module proxy and Debian's archive, and prints the
# variable the tests read as its last line:
#
#   export HUBPLOY_DAGGER_ENV=/root/.cache/hubploy/dagger/env/<key>
#
# What it builds, each step cached under
# ${HUBPLOY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hubploy}/dagger/<step>/<key>,
# the key hashing what the step is made of:
#   bin/     dagger, dagger-engine, dagger-init, dial-stdio, dnsname, codegen,
#            introspect (Dagger v0.19.10), runc, the CNI plugins, crane, dtool:
#            `go build` of the tools module dagger/tools
#   deb/     two Debian bookworm root filesystems made by debootstrap: the
#            engine's (iptables, dnsmasq, git, ...) and a minimal one
#   sdk/     the Go SDK runtime image (Debian, this machine's Go, codegen, warm
#            module and build caches) as OCI blobs, which the engine loads
#            instead of pulling an image
#   images/  the minimal root filesystem as an OCI image, which engine.sh
#            pushes to the local registry as the tests' base image
#   env/     the engine's root filesystem put together, and env.sh
#
# A warm run finds every key and returns in about a second. Needs root (the
# engine does) and installs the Debian packages it needs with apt-get.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${HUBPLOY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hubploy}/dagger
dagger_version=v0.19.10
suite=bookworm
mirror=${HUBPLOY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
engine_packages=ca-certificates,git,openssh-client,iptables,dnsmasq-base,iproute2,tini,e2fsprogs,ripgrep,pigz,xz-utils
min_packages=ca-certificates

export GOWORK=off GOTOOLCHAIN=local GOSUMDB=off
# The tools module pins everything in its go.sum; a build must not change it.
export GOFLAGS="-mod=readonly -buildvcs=false"

start=$SECONDS
log() { printf '[dagger provision %s +%ss] %s\n' "$(date +%T)" "$((SECONDS - start))" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[[ $(id -u) == 0 ]] || die "needs root: the Dagger engine runs as root (in its own mount and pid namespaces)"

# hash FILE...: a short key of the files' content and of the extra words on stdin.
hash() { { cat; cat "$@"; } | sha256sum | cut -c1-16; }

# The Debian packages this script needs on the host.
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v pkg-config >/dev/null || need+=(pkg-config)
[[ -e /usr/include/seccomp.h ]] || need+=(libseccomp-dev)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
if ((${#need[@]})); then
	log "installing ${need[*]} with apt-get"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

mkdir -p "$cache"
# One provisioning at a time; a second waits and then finds everything built.
exec {lock}>"$cache/.lock"
if ! flock -n "$lock"; then
	log "waiting for another provisioning to finish"
	flock "$lock"
fi

# done_dir STEP KEY: the finished folder of a step. Folders appear only by the
# rename of a finished build, so one that exists is complete.
done_dir() { echo "$cache/$1/$2"; }
# tmp_dir STEP: a fresh folder to build a step in, removed if the script dies.
tmps=()
cleanup() { ((${#tmps[@]})) && rm -rf "${tmps[@]}"; }
trap cleanup EXIT
tmp_dir() {
	mkdir -p "$cache/$1"
	local t
	t=$(mktemp -d "$cache/$1/.build-XXXXXX")
	tmps+=("$t")
	echo "$t"
}

# ---- binaries -------------------------------------------------------------
# gobuild is go build without its "go: downloading" lines.
gobuild() { go build "$@" 2>&1 | { grep -v '^go: downloading' || true; } >&2; }
build_bins() {
	local out s
	out=$(tmp_dir bin)
	log "building Dagger $dagger_version, runc, CNI plugins and crane from the Go module proxy (cold: ~15 min on 2 cores)"
	cd "$here/tools"
	s=$SECONDS
	# The engine's tags are those of Dagger's own engine build.
	CGO_ENABLED=0 gobuild -trimpath -tags dfexcludepatterns,dfparents \
		-ldflags "-s -w -X github.com/dagger/dagger/engine.Version=$dagger_version -X github.com/dagger/dagger/engine.Tag=$dagger_version" \
		-o "$out/" \
		github.com/dagger/dagger/cmd/engine github.com/dagger/dagger/cmd/dagger github.com/dagger/dagger/cmd/init \
		github.com/dagger/dagger/cmd/dialstdio github.com/dagger/dagger/cmd/dnsname \
		github.com/dagger/dagger/cmd/codegen github.com/dagger/dagger/cmd/introspect
	mv "$out/engine" "$out/dagger-engine"
	mv "$out/init" "$out/dagger-init"
	mv "$out/dialstdio" "$out/dial-stdio"
	log "built the Dagger binaries in $((SECONDS - s))s"
	s=$SECONDS
	CGO_ENABLED=0 gobuild -trimpath -ldflags "-s -w" -o "$out/" \
		github.com/containernetworking/plugins/plugins/ipam/host-local \
		github.com/containernetworking/plugins/plugins/main/bridge \
		github.com/containernetworking/plugins/plugins/main/loopback \
		github.com/containernetworking/plugins/plugins/meta/firewall \
		github.com/google/go-containerregistry/cmd/crane \
		./cmd/dtool
	# runc as Dagger builds it: cgo with seccomp, static.
	local runc_version
	runc_version=$(go list -m -f '{{.Version}}' github.com/opencontainers/runc)
	CGO_ENABLED=1 gobuild -trimpath -buildmode=pie -tags "seccomp netgo osusergo" \
		-ldflags "-s -w -X main.version=${runc_version#v} -linkmode external -extldflags -static-pie" \
		-o "$out/runc" github.com/opencontainers/runc
	log "built runc $runc_version, CNI plugins, crane and dtool in $((SECONDS - s))s"
	cd - >/dev/null
	mv -T "$out" "$bin"
}
# Each key hashes the function that builds the step, so that a change of the
# recipe is a new key.
bin_key=$(cd "$here/tools" && { echo "$dagger_version $(go env GOVERSION GOOS GOARCH)"; declare -f build_bins; } |
	hash go.mod go.sum distconsts/go.mod distconsts/*.go cmd/dtool/*.go)
bin=$(done_dir bin "$bin_key")
[[ -d $bin ]] || build_bins
log "binaries: $bin"

# ---- Debian root filesystems ----------------------------------------------
debootstrap_into() { # NAME PACKAGES
	local key dest out
	key=$({ echo "$suite $mirror $2"; declare -f debootstrap_into; } | hash /dev/null)
	dest=$(done_dir deb "$1-$key")
	if [[ ! -d $dest ]]; then
		out=$(tmp_dir deb)
		log "debootstrap $suite ($1: $2)"
		mkdir -p "$cache/deb/.debs-$1"
		debootstrap --variant=minbase --cache-dir="$cache/deb/.debs-$1" --include="$2" \
			"$suite" "$out/rootfs" "$mirror" >"$out/debootstrap.log" 2>&1 ||
			die "debootstrap failed: $(tail -n 5 "$out/debootstrap.log")"
		rm -rf "$out/rootfs/var/cache/apt/archives"/*.deb "$out/rootfs/var/lib/apt/lists"/*
		mv -T "$out" "$dest"
	fi
	echo "$dest/rootfs"
}
# Both at once: they wait on the network, not the cores.
engine_deb_f=$(mktemp)
min_deb_f=$(mktemp)
tmps+=("$engine_deb_f" "$min_deb_f")
debootstrap_into engine "$engine_packages" >"$engine_deb_f" &
p1=$!
debootstrap_into min "$min_packages" >"$min_deb_f" &
p2=$!
wait "$p1" || die "the engine root filesystem failed"
wait "$p2" || die "the minimal root filesystem failed"
engine_deb=$(cat "$engine_deb_f")
min_deb=$(cat "$min_deb_f")

# The certificates this machine trusts beyond Debian's (a proxy's, say): every
# certificate of the host's bundle that the Debian bundle lacks.
extra_ca=$(mktemp)
tmps+=("$extra_ca")
awk -v deb="$engine_deb/etc/ssl/certs/ca-certificates.crt" '
	BEGIN { while ((getline line < deb) > 0) { cur = cur line "\n"; if (line ~ /END CERT/) { known[cur] = 1; cur = "" } } }
	{ cur = cur $0 "\n"; if ($0 ~ /END CERT/) { if (!(cur in known)) printf "%s", cur; cur = "" } }
	' /etc/ssl/certs/ca-certificates.crt >"$extra_ca"

# in_chroot ROOTFS CMD...: runs a command in a root filesystem with /proc, /dev
# and the host's DNS, in a mount namespace of its own so nothing stays mounted.
in_chroot() {
	local r=$1
	shift
	cp /etc/resolv.conf "$r/etc/resolv.conf"
	unshare --mount --fork --propagation private bash -c '
		r=$1; shift
		mount -t proc proc "$r/proc"
		mount --rbind /dev "$r/dev"
		exec chroot "$r" "$@"' _ "$r" "$@"
}

add_extra_ca() { # ROOTFS
	if [[ -s $extra_ca ]]; then
		mkdir -p "$1/usr/local/share/ca-certificates"
		cp "$extra_ca" "$1/usr/local/share/ca-certificates/hubploy-host-extra.crt"
		in_chroot "$1" update-ca-certificates >/dev/null 2>&1
	fi
}

# ---- the Go SDK runtime image ---------------------------------------------
goroot=$(go env GOROOT)
build_sdk() {
	local out r s
	out=$(tmp_dir sdk)
	r=$out/rootfs
	s=$SECONDS
	log "building the Go SDK runtime image (Debian, $(go env GOVERSION), codegen, warm caches)"
	cp -a "$engine_deb" "$r"
	add_extra_ca "$r"
	cp -a "$goroot" "$r/usr/local/go"
	cp "$bin/codegen" "$r/usr/local/bin/codegen"
	mkdir -p "$r/go/pkg/mod" "$r/root/.cache/go-build" "$r/sdk"
	# The SDK's own dependencies, compiled, as Dagger's image has them: every
	# module's first build then starts from them.
	cp -a "$(go env GOMODCACHE)/dagger.io/dagger@$dagger_version/." "$r/sdk/"
	chmod -R u+w "$r/sdk"
	local path=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	in_chroot "$r" env -i PATH="$path" HOME=/root GOPATH=/go GOTOOLCHAIN=local GOFLAGS=-mod=mod \
		GOPROXY="$(go env GOPROXY)" GOSUMDB=off CGO_ENABLED=0 \
		bash -c 'set -e; go build std; cd /sdk; go list -e -export=true -compiled=true -deps=true -test=false . >/dev/null' \
		>"$out/warm.log" 2>&1 || die "warming the Go caches failed: $(tail -n 5 "$out/warm.log")"
	rm -rf "$r/sdk" "$r/etc/resolv.conf"
	# codegen and module builds write here; the engine mounts cache volumes
	# seeded from these folders.
	"$bin/dtool" oci-image -rootfs "$r" -out "$out/layout" \
		-env PATH="$path" -env GOPATH=/go -env GOTOOLCHAIN=local -env CGO_ENABLED=0 \
		>"$out/digest"
	rm -rf "$r"
	log "built the Go SDK image $(cat "$out/digest") in $((SECONDS - s))s"
	mv -T "$out" "$sdk"
}
sdk_key=$({ echo "$bin_key $engine_deb $(go env GOVERSION) $(go env GOPROXY)"; declare -f build_sdk in_chroot add_extra_ca; } | hash "$extra_ca")
sdk=$(done_dir sdk "$sdk_key")
[[ -d $sdk ]] || build_sdk

# ---- the tests' base image --------------------------------------------------
img_key=$(echo "image v1 $min_deb" | hash "$extra_ca")  # bump v1 when the recipe below changes
img=$(done_dir images "$img_key")
if [[ ! -d $img ]]; then
	out=$(tmp_dir images)
	log "making the base image debian:$suite"
	cp -a "$min_deb" "$out/rootfs"
	add_extra_ca "$out/rootfs"
	rm -f "$out/rootfs/etc/resolv.conf"
	"$bin/dtool" oci-image -rootfs "$out/rootfs" -out "$out/debian-$suite" \
		-env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin -cmd bash >/dev/null
	rm -rf "$out/rootfs"
	mv -T "$out" "$img"
fi

# ---- the engine's root filesystem -----------------------------------------
build_env() {
	local out r
	out=$(tmp_dir env)
	r=$out/rootfs
	log "putting the engine's root filesystem together"
	cp -a "$engine_deb" "$r"
	add_extra_ca "$r"
	# The engine trusts them through its bundle, and every image the tests run has
	# them already (each root filesystem above). Left in the engine's custom CA
	# folder, they would make it install them into every Debian container it runs
	# (update-ca-certificates before and after each one: about 1.2 s a container
	# here, 2.4 s a function call), which an engine without custom CAs, as on a CI
	# runner, never does.
	rm -f "$r/usr/local/share/ca-certificates/hubploy-host-extra.crt"
	# As in Dagger's engine image.
	install -m 0755 "$bin/dagger-engine" "$bin/dagger-init" "$bin/runc" "$bin/dagger" "$r/usr/local/bin/"
	install -m 0755 "$bin/dial-stdio" "$r/usr/bin/dial-stdio"
	ln -s dial-stdio "$r/usr/bin/buildctl"
	mkdir -p "$r/opt/cni/bin" "$r/etc/dagger" "$r/var/lib/dagger" "$r/run/dagger"
	install -m 0755 "$bin/dnsname" "$bin/bridge" "$bin/loopback" "$bin/firewall" "$bin/host-local" "$r/opt/cni/bin/"
	# CNI's firewall and bridge plugins call iptables: the legacy one, which
	# needs no nftables support from the kernel.
	in_chroot "$r" update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null
	in_chroot "$r" update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null
	for m in xtables-legacy-multi xtables-nft-multi; do
		[[ -e $r/usr/bin/$m ]] || ln -s "../sbin/$m" "$r/usr/bin/$m"
	done
	: >"$r/etc/dagger/engine.toml"
	# The Go SDK image, loaded by digest.
	mkdir -p "$r/usr/local/share/dagger/content"
	cp -a "$sdk/layout/blobs" "$r/usr/local/share/dagger/content/"
	rm -f "$r/etc/resolv.conf"
	ln -s "$bin" "$out/bin"
	ln -s "$img" "$out/images"
	cat >"$out/env.sh" <<EOF
# Written by dagger/provision.sh; read by dagger/engine.sh.
DAGGER_VERSION=$dagger_version
GO_SDK_DIGEST=$(cat "$sdk/digest")
GOPROXY_FOR_MODULES=$(go env GOPROXY)
EOF
	mv -T "$out" "$envdir"
}
env_key=$({ echo "$bin_key $engine_deb $sdk_key $img_key"; declare -f build_env in_chroot add_extra_ca; } | hash "$extra_ca")
envdir=$(done_dir env "$env_key")
[[ -d $envdir ]] || build_env

# Older keys of each step are left to whoever clears the cache; they are the
# previous versions, useful when switching branches.
log "ready in $((SECONDS - start))s: $envdir"
echo "export HUBPLOY_DAGGER_ENV=$envdir"
