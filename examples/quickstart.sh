#!/usr/bin/env bash
# The main job on a real example: build a Debian 12 Kubernetes node root
# (containerd, runc, crun, iptables, ...) with mmdebstrap, scan it into a
# graph, and explain what some of its programs need at load time and why.
# Run as root on Debian 12 (mmdebstrap builds the root with the machine's own
# apt sources). Everything is written below target/.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mmdebstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap
fi
root=target/node-root
if [ ! -e "$root/usr/bin/containerd" ]; then
    rm -rf "$root"
    mmdebstrap --variant=minbase \
        --include=containerd,runc,crun,iptables,kmod,iproute2,util-linux,mount,conntrack,socat,ethtool,ebtables \
        bookworm "$root"
fi

cargo build --release --locked
kaudit=./target/release/kaudit
db=target/node.db
$kaudit scan --root "$root" --db "$db"
echo
# iptables is a chain of symlinks through /etc/alternatives; crun links libseccomp, libcap, ...
$kaudit deps --db "$db" /usr/sbin/iptables
echo
$kaudit deps --db "$db" /usr/bin/crun
echo
echo "as the loader opens them (kaudit deps --format list /usr/bin/crun):"
$kaudit deps --db "$db" --format list /usr/bin/crun
echo
echo "the graph is in $db (see docs/graph.md for queries)"
