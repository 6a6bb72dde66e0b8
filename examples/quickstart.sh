#!/usr/bin/env bash
# The main job on a real example, end to end: build a Debian 12 Kubernetes node root
# (containerd, runc, crun, podman, CNI plugins, iptables, ...) with mmdebstrap, scan it,
# trace the scenarios of the containerd-node profile inside it, derive the image's
# allowlist, assemble the image as a directory and as a squashfs, and verify it: the
# image holds its allowlist, every load and link resolves, and every scenario replays
# inside it. Prints the figures: node bytes, image bytes, ratio, squashfs size, and the
# wall time of the whole loop.
# Run as root on Debian 12 (mmdebstrap builds the root with the machine's own apt
# sources); what is missing is installed first (examples/prerequisites.sh). Everything is
# written below target/; the node root is never written (traces run on an overlay of it).
set -euo pipefail
cd "$(dirname "$0")/.."

bash examples/prerequisites.sh quickstart
root=target/node-root
bash examples/build-node-root.sh "$root"

cargo build --release --locked
kaudit=./target/release/kaudit
db=target/node.db
profile=allowlists/containerd-node.toml
image=target/containerd-node-image
rm -f "$db" "$db-wal" "$db-shm"

start=$(date +%s.%N)
$kaudit scan --root "$root" --db "$db"
echo
# iptables is a chain of symlinks through /etc/alternatives; crun links libseccomp, libcap, ...
$kaudit deps --db "$db" /usr/sbin/iptables
echo
echo "tracing the containerd-node profile's scenarios inside the node root:"
# boot: the root's own systemd as PID 1 of a container on a network of the run's own,
# until it is running with an address from the run's DHCP server, then 2 s more
$kaudit trace --db "$db" --root "$root" --scenario boot --param SETTLE=2 --param TIMEOUT=2m \
    --param ADDRESS_ON=host0 2>&1 |
    sed -n '1p'
for s in containerd-run runc-run crun-run cni-bridge; do
    $kaudit trace --db "$db" --root "$root" --scenario "$s" 2>&1 | sed -n '1p'
done
echo
echo "names the node's programs asked for, with the symlinks they walked (kaudit accessed --names):"
$kaudit accessed --db "$db" --scenario containerd-run --names | grep -E '^ok .*\[' | head -8 || true
echo
echo "the image of $profile (kaudit allowlist):"
$kaudit allowlist --db "$db" --profile "$profile" --out target/containerd-node.list
echo
echo "why libseccomp is in it (kaudit why), and why perl is not:"
$kaudit why --db "$db" --profile "$profile" /usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4
$kaudit why --db "$db" --profile "$profile" /usr/bin/perl || true
echo
echo "the directories a read-only image must keep writable (kaudit writable):"
$kaudit writable --db "$db" --profile "$profile"
$kaudit docs --db "$db" --profile "$profile" --out target/containerd-node-docs
echo
$kaudit assemble --force --allowlist target/containerd-node.list --from "$root" --out "$image"
$kaudit assemble --force --allowlist target/containerd-node.list --from "$root" --out "$image.squashfs"
echo
echo "verifying the image (kaudit verify: allowlist, loads and links, replays):"
$kaudit verify --db "$db" --profile "$profile" --root "$image"
end=$(date +%s.%N)
echo
echo "proving every kept file necessary (kaudit prove: loader rules, replays with entries hidden):"
set +e
$kaudit prove --db "$db" --profile "$profile" --root "$image" > target/containerd-node.unproven
prove_rc=$?
set -e
if [ "$prove_rc" -gt 1 ]; then
    echo "kaudit prove failed ($prove_rc)" >&2
    exit 1
fi
echo "  not shown necessary: $(wc -l < target/containerd-node.unproven) entries (target/containerd-node.unproven)"
$kaudit why --db "$db" --profile "$profile" /usr/sbin/runc | tail -1
echo
echo "the 1-minimal image (kaudit allowlist --proven), assembled and verified:"
$kaudit allowlist --db "$db" --profile "$profile" --proven --out target/containerd-node.proven.list 2>&1 | sed -n '1p'
rm -rf "$image-proven"
$kaudit assemble --force --allowlist target/containerd-node.proven.list --from "$root" --out "$image-proven"
$kaudit verify --db "$db" --profile "$profile" --proven --root "$image-proven"

node_bytes=$(sqlite3 "$db" "SELECT bytes FROM scan")
node_entries=$(sqlite3 "$db" "SELECT entries FROM scan")
image_bytes=$(find "$image" -type f -printf '%i %s\n' | sort -u | awk '{s += $2} END {print s + 0}')
image_entries=$(find "$image" -mindepth 1 | wc -l)
squashfs_bytes=$(stat -c %s "$image.squashfs")
proven_bytes=$(find "$image-proven" -type f -printf '%i %s\n' | sort -u | awk '{s += $2} END {print s + 0}')
proven_entries=$(find "$image-proven" -mindepth 1 | wc -l)
read -r prove_secs verify_secs < <(sqlite3 -separator ' ' "$db" "SELECT seconds, baseline FROM proof_run WHERE profile = 'containerd-node'")
echo
echo "figures:"
awk -v n="$node_bytes" -v ne="$node_entries" -v i="$image_bytes" -v ie="$image_entries" \
    -v q="$squashfs_bytes" -v t="$(echo "$end - $start" | bc)" \
    -v pb="$proven_bytes" -v pe="$proven_entries" -v ps="$prove_secs" -v vs="$verify_secs" 'BEGIN {
    printf "  full node:  %8.1f MiB in %d entries\n", n / 1048576, ne
    printf "  image:      %8.1f MiB in %d entries: %.1f%% of the node (goal: at most 35%%)\n", i / 1048576, ie, 100 * i / n
    printf "  squashfs:   %8.1f MiB\n", q / 1048576
    printf "  the whole loop (scan, a boot and 4 traces, allowlist, docs, 2 images, verify with 5 replays, one a boot): %.1f s\n", t
    printf "  proven image: %8.1f MiB in %d entries: %.1f%% of the node (every entry shown necessary or included)\n", pb / 1048576, pe, 100 * pb / n
    printf "  kaudit prove: %.1f s; one replay of every scenario (what verify replays): %.1f s (%.1fx)\n", ps, vs, ps / vs
}'
echo
echo "the allowlist is target/containerd-node.list, the pages target/containerd-node-docs/index.md"
echo "(a book with: mdbook build target/containerd-node-docs),"
echo "the image $image (and $image.squashfs), the graph $db (see docs/graph.md for queries)"
