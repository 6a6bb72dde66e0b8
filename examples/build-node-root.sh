#!/usr/bin/env bash
# Build a Debian 12 Kubernetes node root that boots: systemd as init (with D-Bus),
# systemd-networkd as its DHCP client, containerd enabled as a service, runc, crun,
# podman, CNI plugins, iptables, ... with mmdebstrap into DIR (default target/node-root),
# with a busybox root filesystem at DIR/opt/busybox for containers. Uses the machine's own
# apt sources. Kept when it already exists.
#
# The DHCP client is systemd-networkd: it is part of systemd, which the node runs anyway
# (no second package), it is what Flatcar runs, and its container default
# (80-container-host0.network) configures host0, the interface a booted node gets
# (kaudit trace --boot), by DHCP.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-target/node-root}"
mkdir -p "$(dirname "$root")"
# one build at a time (tests run in parallel and share the root)
exec 9>"$root.lock"
flock 9
if [ -e "$root/usr/bin/containerd" ] && [ -e "$root/usr/bin/podman" ] &&
    [ -e "$root/usr/lib/cni/bridge" ] && [ -e "$root/opt/busybox/bin/sh" ] &&
    [ -e "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service" ] &&
    [ "$(readlink "$root/etc/systemd/system/podman.socket")" = /dev/null ]; then
    exit 0
fi
if ! command -v mmdebstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap
fi
rm -rf "$root"
mkdir -p "$(dirname "$root")"
mmdebstrap --quiet --variant=minbase \
    --include=systemd,systemd-sysv,dbus,containerd,runc,crun,iptables,kmod,iproute2,util-linux,mount,conntrack,socat,ethtool,ebtables,busybox-static,containernetworking-plugins,podman \
    bookworm "$root"
mkdir -p "$root/opt/busybox/bin"
cp "$root/bin/busybox" "$root/opt/busybox/bin/busybox"
ln -sf busybox "$root/opt/busybox/bin/sh"
# the node's name (mmdebstrap copies the machine's); the machine id stays empty: each boot
# gets one of its own
echo node >"$root/etc/hostname"
# DHCP on host0 at boot
systemctl --root="$root" --quiet enable systemd-networkd.service
# podman's units: a containerd node runs podman only when asked (the podman-run scenario),
# never as a service at boot; those for containers with a restart policy fail when started
# at boot without podman containers
systemctl --root="$root" --quiet mask podman.service podman.socket podman-auto-update.service \
    podman-auto-update.timer podman-restart.service
