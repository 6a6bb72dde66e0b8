#!/usr/bin/env bash
# The main job on a real example: build a Debian 12 Kubernetes node root
# (containerd, runc, crun, podman, CNI plugins, iptables, ...) with mmdebstrap, scan it into a
# graph, and explain what some of its programs need at load time and why.
# Run as root on Debian 12 (mmdebstrap builds the root with the machine's own
# apt sources). Everything is written below target/.
set -euo pipefail
cd "$(dirname "$0")/.."

root=target/node-root
bash examples/build-node-root.sh "$root"

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
echo "tracing the containerd-run scenario inside the node root (containerd runs a busybox container):"
$kaudit trace --db "$db" --root "$root" --scenario containerd-run
$kaudit accessed --db "$db" --scenario containerd-run | grep -E 'containerd|runc|seccomp' || true
echo
echo "names the node's programs asked for, with the symlinks they walked (kaudit accessed --names):"
$kaudit accessed --db "$db" --scenario containerd-run --names | grep -E '^ok .*\[' | head -15 || true
echo
echo "the graph is in $db (see docs/graph.md for queries)"
