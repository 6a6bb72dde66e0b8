#!/usr/bin/env bash
# Build a Debian 12 Kubernetes node root (containerd, runc, crun, podman, CNI
# plugins, iptables, ...)
# with mmdebstrap into DIR (default target/node-root), with a busybox root
# filesystem at DIR/opt/busybox for containers. Uses the machine's own apt
# sources. Kept when it already exists.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-target/node-root}"
mkdir -p "$(dirname "$root")"
# one build at a time (tests run in parallel and share the root)
exec 9>"$root.lock"
flock 9
if [ -e "$root/usr/bin/containerd" ] && [ -e "$root/usr/bin/podman" ] &&
    [ -e "$root/usr/lib/cni/bridge" ] && [ -e "$root/opt/busybox/bin/sh" ]; then
    exit 0
fi
if ! command -v mmdebstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap
fi
rm -rf "$root"
mkdir -p "$(dirname "$root")"
mmdebstrap --quiet --variant=minbase \
    --include=containerd,runc,crun,iptables,kmod,iproute2,util-linux,mount,conntrack,socat,ethtool,ebtables,busybox-static,containernetworking-plugins,podman \
    bookworm "$root"
mkdir -p "$root/opt/busybox/bin"
cp "$root/bin/busybox" "$root/opt/busybox/bin/busybox"
ln -sf busybox "$root/opt/busybox/bin/sh"
