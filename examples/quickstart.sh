#!/usr/bin/env bash
# The main job on a real example: build a Debian 12 Kubernetes node root
# (containerd, runc, crun, podman, CNI plugins, iptables, ...) with mmdebstrap, scan it into a
# graph, explain what some of its programs need at load time, trace the scenarios of the
# containerd-node profile inside it, and derive the image: the allowlist, why a file is in it,
# the writable directories and the justification pages.
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
echo "tracing the rest of the containerd-node profile's scenarios: runc-run, crun-run, cni-bridge"
for s in runc-run crun-run cni-bridge; do
    $kaudit trace --db "$db" --root "$root" --scenario "$s" >/dev/null
done
profile=allowlists/containerd-node.toml
echo
echo "the image of $profile (kaudit allowlist):"
$kaudit allowlist --db "$db" --profile "$profile" --out target/containerd-node.list
echo
echo "why libseccomp is in it (kaudit why):"
$kaudit why --db "$db" --profile "$profile" /usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4
echo
echo "and why perl is not:"
$kaudit why --db "$db" --profile "$profile" /usr/bin/perl || true
echo
echo "the directories a read-only image must keep writable (kaudit writable):"
$kaudit writable --db "$db" --profile "$profile"
$kaudit docs --db "$db" --profile "$profile" --out target/containerd-node-docs
echo
echo "the allowlist is target/containerd-node.list, the pages target/containerd-node-docs/index.md,"
echo "the graph $db (see docs/graph.md for queries)"
