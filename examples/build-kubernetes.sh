#!/usr/bin/env bash
# Build Kubernetes from Debian's own source package (bookworm: 1.20.2 with its vendor/ tree)
# with Debian's Go: kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager,
# kube-scheduler, kube-proxy, and the static pause program of build/pause.
#
# The outputs are cached by version outside the checkout, in
# ${KAUDIT_CACHE:-/var/cache/kaudit}/kubernetes/VERSION/bin, so a fresh clone on the same
# machine finds them; they are rebuilt when absent. Prints that directory on stdout.
#
# 1.20.2 vendors github.com/modern-go/reflect2 1.0.1, which crashes under Go >= 1.18 whenever
# json-iterator encodes a map (kubeadm init dies in its kubelet-start phase); Debian's
# golang-github-modern-go-reflect2-dev is 1.0.2, the upstream fix, and replaces it before the
# build (the build runs with GO111MODULE=off, so vendor/ is all that is read).
#
# Run as root on Debian 12. The source is fetched with a private apt configuration (a deb-src
# entry for each of the machine's own bookworm main sources); the machine's apt setup is not
# changed.
set -euo pipefail
cd "$(dirname "$0")/.."

version=1.20.2
cache="${KAUDIT_CACHE:-/var/cache/kaudit}/kubernetes/$version"
out="$cache/bin"
bins=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy pause)

log() { echo "build-kubernetes: $*" >&2; }

complete() {
    local b
    for b in "${bins[@]}"; do [ -x "$out/$b" ] || return 1; done
    [ -e "$out/.complete" ]
}

mkdir -p "$cache"
exec 8>"$cache.lock"
flock 8
if complete; then
    echo "$out"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    log "the build installs Debian's Go and fetches a source package: run as root"
    exit 2
fi

export DEBIAN_FRONTEND=noninteractive
need=()
for p in golang-go golang-github-modern-go-reflect2-dev dpkg-dev rsync make gcc libc6-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work="$cache/work"
rm -rf "$work"
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/src"

# deb-src entries for the machine's own bookworm main archives (read from apt's policy, so
# both the one-line and the deb822 formats are covered)
apt-cache policy | awk '$3 == "bookworm/main" && $4 != "" { print $2 }' | sort -u |
    while read -r uri; do echo "deb-src [trusted=yes] $uri bookworm main"; done >"$work/apt/sources.list"
if ! [ -s "$work/apt/sources.list" ]; then
    log "no bookworm main archive in the machine's apt sources"
    exit 2
fi
aptopts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
    -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
    -o "Debug::NoLocking=1")
log "fetching Debian's kubernetes source package"
apt-get "${aptopts[@]}" update -qq
# bookworm's package is versioned 1.20.5+really1.20.2: the source is 1.20.2
(cd "$work/src" && apt-get "${aptopts[@]}" source -qq kubernetes >/dev/null)
src=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name "kubernetes-*$version" | head -1)
[ -n "$src" ] || {
    log "bookworm's kubernetes source package is not $version"
    exit 2
}
[ -d "$src/vendor" ] || {
    log "the source package has no vendor/ tree"
    exit 2
}

log "replacing vendor/github.com/modern-go/reflect2 with Debian's reflect2 1.0.2"
reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2
rm -rf "$src/vendor/github.com/modern-go/reflect2"
mkdir -p "$src/vendor/github.com/modern-go/reflect2"
rsync -a --exclude '*_test.go' --exclude 'test*' "$reflect2/" "$src/vendor/github.com/modern-go/reflect2/"

log "building (about 8 minutes on two cores)"
mkdir -p "$src/.go/src/k8s.io"
ln -sfn ../../.. "$src/.go/src/k8s.io/kubernetes"
(
    cd "$src/.go/src/k8s.io/kubernetes"
    export GOPATH="$src/.go" GO111MODULE=off CGO_ENABLED=0 GOCACHE="$cache/gocache" GOFLAGS=
    export KUBE_GIT_VERSION="v$version" KUBE_GIT_TREE_STATE=clean KUBE_VERBOSE=0
    make WHAT="cmd/kubeadm cmd/kubelet cmd/kubectl cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kube-proxy" >&2
)
rm -rf "$out.new"
mkdir -p "$out.new"
for b in "${bins[@]}"; do
    [ "$b" = pause ] && continue
    cp "$src/_output/local/go/bin/$b" "$out.new/$b"
done
# the pod sandbox's pause, static, as build/pause/Makefile builds it
gcc -Os -Wall -Werror -static -DVERSION="v3.2-kaudit" -o "$out.new/pause" "$src/build/pause/linux/pause.c"
strip "$out.new/pause"
touch "$out.new/.complete"
rm -rf "$out"
mv "$out.new" "$out"
rm -rf "$work"
log "built into $out"
echo "$out"
