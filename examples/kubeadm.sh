#!/usr/bin/env bash
# The main job for Kubernetes, end to end on booted kubeadm nodes: build Kubernetes 1.20.2
# from Debian's own source (cached) and two kubeadm node roots with it (examples/
# build-kubeadm-root.sh: a worker's and a control plane's, each with the images it runs
# preloaded, no registry), scan them, trace the worker's scenarios (boot, kubeadm-join,
# kubelet, kube-pod: each joins a control plane booted beside it from the control plane's
# root) into target/kubeadm.db and the control plane's (boot, kubeadm-init, kubelet, as node
# control-plane) into target/kubeadm-control-plane.db, derive both images' allowlists and
# justification pages, assemble both images (directory and squashfs), verify the worker
# image by booting it and joining it to a control plane booted from the full root (every
# scenario replayed), and show that the image without a file only Kubernetes needs fails
# that verification, naming the file and the step. Prints the figures in the
# quickstart's format and the time of each phase.
# Run as root on Debian 12; what is missing is installed first. Everything is written below
# target/ (the Kubernetes build in ${KAUDIT_CACHE:-/var/cache/kaudit}); the node root is never
# written (traces run on overlays of it).
set -euo pipefail
cd "$(dirname "$0")/.."

bash examples/prerequisites.sh quickstart
cargo build --release --locked
kaudit=./target/release/kaudit
root=target/kubeadm-worker-root
cproot=target/kubeadm-control-plane-root
db=target/kubeadm.db
cpdb=target/kubeadm-control-plane.db
worker=allowlists/kubeadm-worker.toml
cp=allowlists/kubeadm-control-plane.toml
image=target/kubeadm-worker-image
cpimage=target/kubeadm-control-plane-image
phases=()
now() { date +%s.%N; }
phase() { phases+=("$(printf '%-52s %7.1f s' "$1" "$(echo "$(now) - $2" | bc)")"); }

t=$(now)
bash examples/build-kubeadm-root.sh "$root" worker
bash examples/build-kubeadm-root.sh "$cproot" control-plane
phase "Kubernetes and the two kubeadm node roots (cached)" "$t"

start=$(now)
rm -f "$db" "$db-wal" "$db-shm" "$cpdb" "$cpdb-wal" "$cpdb-shm"
t=$(now)
$kaudit scan --root "$root" --db "$db"
$kaudit scan --root "$cproot" --db "$cpdb"
phase "scans" "$t"
echo

ready="ADDRESS_ON=host0"
peer=(--peer "control-plane=$cproot")
echo "tracing the worker (kubeadm-worker: each scenario joins a control plane booted beside it):"
t=$(now)
$kaudit trace --db "$db" --root "$root" --scenario boot --param SETTLE=2 --param TIMEOUT=2m \
    --param "$ready" 2>&1 | sed -n '1p'
$kaudit trace --db "$db" --root "$root" --scenario kubeadm-join "${peer[@]}" 2>&1 | sed -n '1p'
$kaudit trace --db "$db" --root "$root" --scenario kubelet --param SETTLE=20 "${peer[@]}" 2>&1 | sed -n '1p'
$kaudit trace --db "$db" --root "$root" --scenario kube-pod "${peer[@]}" 2>&1 | sed -n '1p'
phase "traces of the worker (4 runs, 3 of them with a peer)" "$t"
echo "tracing the control plane (kubeadm-control-plane, as node control-plane):"
t=$(now)
cpname=(--hostname control-plane)
$kaudit trace --db "$cpdb" --root "$cproot" --scenario boot "${cpname[@]}" --param SETTLE=2 \
    --param TIMEOUT=2m --param "$ready" 2>&1 | sed -n '1p'
$kaudit trace --db "$cpdb" --root "$cproot" --scenario kubeadm-init "${cpname[@]}" 2>&1 | sed -n '1p'
$kaudit trace --db "$cpdb" --root "$cproot" --scenario kubelet --param SETTLE=20 "${cpname[@]}" 2>&1 | sed -n '1p'
phase "traces of the control plane (3 runs)" "$t"
echo
echo "what kubeadm join used (kaudit accessed --scenario kubeadm-join), its programs:"
$kaudit accessed --db "$db" --scenario kubeadm-join >target/kubeadm-join.accessed
grep -E '^/usr/(s?bin)/(kubeadm|kubelet|containerd|containerd-shim-runc-v2|runc|crictl|ctr)$' target/kubeadm-join.accessed
for p in /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/containerd /usr/sbin/runc; do
    grep -qx "$p" target/kubeadm-join.accessed || { echo "kubeadm-join did not use $p" >&2; exit 1; }
done
echo

t=$(now)
echo "the images (kaudit allowlist):"
$kaudit allowlist --db "$db" --profile "$worker" --out target/kubeadm-worker.list
$kaudit allowlist --db "$cpdb" --profile "$cp" --out target/kubeadm-control-plane.list
echo
echo "why kubelet is in the worker image, and why libseccomp is (kaudit why):"
$kaudit why --db "$db" --profile "$worker" /usr/bin/kubelet
$kaudit why --db "$db" --profile "$worker" --all /usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4 >target/kubeadm-why-seccomp.txt
# the chain through runc, as kubelet's pods start (every chain: target/kubeadm-why-seccomp.txt)
if ! grep -q 'DT_NEEDED "libseccomp.so.2" of /usr/sbin/runc' target/kubeadm-why-seccomp.txt ||
    ! grep -q 'executed by runc\[.* of \(kubeadm-join\|kubelet\|kube-pod\) ' target/kubeadm-why-seccomp.txt; then
    echo "libseccomp is not kept through runc as the pods start" >&2
    exit 1
fi
echo "/usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4, through runc (one of its chains):"
grep -m1 -o 'needed: DT_NEEDED "libseccomp.so.2" of /usr/sbin/runc.*' target/kubeadm-why-seccomp.txt | cut -c1-150
grep -m3 -o 'executed by runc\[.* of \(kubeadm-join\|kubelet\|kube-pod\) (run [0-9]*)' target/kubeadm-why-seccomp.txt
echo
$kaudit docs --db "$db" --profile "$worker" --out target/kubeadm-worker-docs
$kaudit docs --db "$cpdb" --profile "$cp" --out target/kubeadm-control-plane-docs
for out in "$image" "$image.squashfs"; do
    $kaudit assemble --force --allowlist target/kubeadm-worker.list --from "$root" --out "$out"
done
for out in "$cpimage" "$cpimage.squashfs"; do
    $kaudit assemble --force --allowlist target/kubeadm-control-plane.list --from "$cproot" --out "$out"
done
phase "allowlists, pages, 4 images" "$t"
echo

echo "verifying the worker image: booted as the worker, joined to a control plane booted from the"
echo "full root, every scenario replayed (kaudit verify):"
t=$(now)
$kaudit verify --db "$db" --profile "$worker" --root "$image"
phase "verify of the worker image (4 replays)" "$t"
end=$(now)

# the negative: the worker image without a file only the Kubernetes scenarios need
echo
echo "the worker image without /usr/bin/kubeadm must fail (kaudit verify --scenario kubeadm-join):"
t=$(now)
broken=target/kubeadm-worker-image-without-kubeadm
rm -rf "$broken"
cp -a "$image" "$broken"
rm "$broken/usr/bin/kubeadm"
set +e
$kaudit verify --db "$db" --profile "$worker" --root "$broken" --scenario kubeadm-join >target/kubeadm-negative.out 2>&1
status=$?
set -e
rm -rf "$broken"
grep -E '^(missing-entry|replay-failed)|FAIL join|looked for .*/usr/bin/kubeadm' target/kubeadm-negative.out | cut -c1-160
if [ "$status" != 1 ] || ! grep -q 'FAIL join' target/kubeadm-negative.out ||
    ! grep -q 'missing-entry: /usr/bin/kubeadm' target/kubeadm-negative.out; then
    echo "the image without /usr/bin/kubeadm was not refused as it must be (exit $status):" >&2
    cat target/kubeadm-negative.out >&2
    exit 1
fi
echo "refused, as it must be (exit 1)"
phase "verify of the image without kubeadm (1 replay, refused)" "$t"

bytes() { find "$1" -type f -printf '%i %s\n' | sort -u | awk '{s += $2} END {print s + 0}'; }
echo
echo "figures:"
for set in "worker:$image:$db" "control plane:$cpimage:$cpdb"; do
    IFS=: read -r name dir graph <<<"$set"
    awk -v name="$name" -v n="$(sqlite3 "$graph" "SELECT bytes FROM scan")" \
        -v ne="$(sqlite3 "$graph" "SELECT entries FROM scan")" -v i="$(bytes "$dir")" \
        -v ie="$(find "$dir" -mindepth 1 | wc -l)" -v q="$(stat -c %s "$dir.squashfs")" 'BEGIN {
        printf "  %s node:     %8.1f MiB in %d entries\n", name, n / 1048576, ne
        printf "  %s image:    %8.1f MiB in %d entries: %.1f%% of the node\n", name, i / 1048576, ie, 100 * i / n
        printf "  %s squashfs: %8.1f MiB\n", name, q / 1048576 }'
done
echo "  the whole loop (scan, 7 traces, allowlists, docs, 4 images, verify with 4 replays): $(echo "$end - $start" | bc | xargs printf '%.1f') s"
echo
echo "phases:"
printf '  %s\n' "${phases[@]}"
echo
echo "the allowlists are target/kubeadm-worker.list and target/kubeadm-control-plane.list, the pages"
echo "target/kubeadm-worker-docs/index.md, the images $image and $cpimage (and their .squashfs),"
echo "the graphs $db and $cpdb"
