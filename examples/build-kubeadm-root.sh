#!/usr/bin/env bash
# Build a Debian 12 kubeadm node root into DIR for ROLE (worker or control-plane; defaults:
# target/kubeadm-ROLE-root, control-plane): the booted node root of build-node-root.sh plus
# Kubernetes 1.20.2 built from Debian's own source (build-kubernetes.sh), set up the way
# kubeadm expects a node:
#
# - kubeadm, kubelet and kubectl in /usr/bin; kubelet a systemd service with kubeadm's
#   drop-in (the 10-kubeadm.conf of upstream's packages), enabled;
# - containerd's CRI plugin for kubelet: the sandbox image k8s.gcr.io/pause:3.2, cgroupfs,
#   the CNI plugins in /usr/lib/cni; its overlayfs snapshots on a tmpfs of their own;
# - crictl: kubeadm 1.20 insists on it and Debian has none (no cri-tools): a small shell
#   program that answers kubeadm's few questions (info, inspecti, pull, pods) through ctr;
# - the images the role runs, without a registry, preloaded: the tags
#   `kubeadm config images list` prints for v1.20.2, each a docker archive made here (into
#   target/kubeadm-images, once) — pause (static, from the source's build/pause), etcd
#   (Debian's etcd-server, with its library closure computed by `kaudit deps`),
#   kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy (with iptables, its
#   closure in the node root computed by `kaudit deps`), and busybox for workload pods —
#   imported into containerd's store in the root (k8s.io namespace), unpacked on first use.
#   A control plane gets pause, etcd, the three control-plane components and kube-proxy; a
#   worker pause, kube-proxy and busybox. CoreDNS is not in Debian: its image is not made
#   (kubeadm init skips the addon).
#
# Kept when complete. Run as root on Debian 12: KAUDIT=PATH names the kaudit to use
# (default target/release/kaudit, built when absent).
set -euo pipefail
cd "$(dirname "$0")/.."
role="${2:-control-plane}"
root="${1:-target/kubeadm-$role-root}"
case "$role" in
worker) want=(pause kube-proxy busybox) ;;
control-plane) want=(pause etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy) ;;
*) echo "build-kubeadm-root: ROLE is worker or control-plane, not $role" >&2; exit 2 ;;
esac
kaudit="${KAUDIT:-target/release/kaudit}"
version=1.20.2
log() { echo "build-kubeadm-root: $*" >&2; }

mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock 9
if [ -e "$root.complete" ]; then
    exit 0
fi

bin=$(bash examples/build-kubernetes.sh)
bash examples/build-node-root.sh target/node-root
[ -x "$kaudit" ] || cargo build --release --locked --quiet

log "copying the node root to $root"
rm -rf "$root" "$root.complete"
cp -a target/node-root "$root"
install -m 755 "$bin/kubeadm" "$bin/kubelet" "$bin/kubectl" "$root/usr/bin/"

# kubelet as a service, with kubeadm's drop-in (as upstream's kubelet and kubeadm packages
# ship them)
cat >"$root/lib/systemd/system/kubelet.service" <<'EOF'
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/home/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$root/etc/systemd/system/kubelet.service.d"
cat >"$root/etc/systemd/system/kubelet.service.d/10-kubeadm.conf" <<'EOF'
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
EOF
systemctl --root="$root" --quiet enable kubelet.service
# a pod that ignores SIGTERM must not hold a node's poweroff for 90 s
mkdir -p "$root/etc/systemd/system.conf.d"
printf '[Manager]\nDefaultTimeoutStopSec=15s\n' >"$root/etc/systemd/system.conf.d/stop-timeout.conf"

# containerd's snapshots on a filesystem of their own: overlayfs cannot stack its upper
# layers on an overlay, which the node's root is when kaudit boots it (and a read-only
# image's /var needs a writable filesystem anyway)
cat >"$root/lib/systemd/system/var-lib-containerd-io.containerd.snapshotter.v1.overlayfs.mount" <<'EOF'
[Unit]
Description=containerd's snapshots (tmpfs)
Before=containerd.service

[Mount]
What=tmpfs
Where=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs
Type=tmpfs
Options=mode=0700

[Install]
WantedBy=local-fs.target
EOF
systemctl --root="$root" --quiet enable var-lib-containerd-io.containerd.snapshotter.v1.overlayfs.mount

# containerd's CRI plugin as kubelet uses it
cat >"$root/etc/containerd/config.toml" <<'EOF'
version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "k8s.gcr.io/pause:3.2"
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
EOF

# crictl, as far as kubeadm 1.20 asks it anything
cat >"$root/usr/bin/crictl" <<'EOF'
#!/bin/sh
# crictl for kubeadm: kubeadm 1.20 requires crictl on a node with a CRI runtime, and asks it
# whether the runtime answers (info), whether an image is present (inspecti), to pull one
# (pull: refused, the images are preloaded), and which pods run (pods, before stopp/rmp on
# reset). This answers those through containerd's own ctr, in kubelet's namespace (k8s.io).
while [ $# -gt 0 ]; do
    case "$1" in
    -r | --runtime-endpoint | -i | --image-endpoint | -t | --timeout) shift 2 ;;
    --runtime-endpoint=* | --image-endpoint=* | --timeout=*) shift ;;
    *) break ;;
    esac
done
cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
info | version) exec ctr -n k8s.io version ;;
inspecti)
    for want in "$@"; do
        found=
        for have in $(ctr -n k8s.io images ls -q); do
            [ "$have" = "$want" ] && found=1
        done
        [ -n "$found" ] || { echo "no such image: $want" >&2; exit 1; }
    done
    ;;
pull)
    # this node has no registry to pull from: its images are in containerd already
    echo "crictl: pull $*: images are not pulled on this node (they are preloaded)" >&2
    exit 1
    ;;
pods | ps | images) ;;
stopp | rmp | stop | rm) ;;
*) echo "crictl: $cmd: not supported here" >&2; exit 1 ;;
esac
EOF
chmod 755 "$root/usr/bin/crictl"

# the images, made once from the node root (target/kubeadm-images)
node=target/node-root
images=target/kubeadm-images
exec 7>"$images.lock"
flock 7
# image DIR NAME:TAG ENTRYPOINT...: a docker archive (one layer) of DIR as images/NAME.tar
image() {
    local dir=$1 tag=$2 file
    shift 2
    file="$images/$(basename "${tag%%:*}").tar"
    local work
    work=$(mktemp -d)
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$dir" -cf "$work/layer.tar" .
    local diff
    diff=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
    local entry
    entry=$(printf '"%s",' "$@")
    printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":[%s]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "${entry%,}" "$diff" >"$work/config.json"
    local conf
    conf=$(sha256sum "$work/config.json" | cut -d' ' -f1)
    mv "$work/config.json" "$work/$conf.json"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$conf" "$tag" >"$work/manifest.json"
    tar --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work" -cf "$file" manifest.json "$conf.json" layer.tar
    rm -rf "$work"
}
# copy PROGRAMS of ROOT and the libraries `kaudit deps --format list` names for them into
# DIR (each as a file of its own: the image has no symlinks on the way), below the
# merged-/usr links the root has
closure() {
    local from=$1 dir
    dir=$(realpath "$2")
    shift 2
    local l
    for l in bin sbin lib lib64; do
        if [ -L "$from/$l" ]; then
            mkdir -p "$dir/$(readlink "$from/$l")"
            cp -a "$from/$l" "$dir/"
        fi
    done
    { printf '%s\n' "$@"; "$kaudit" -q deps --root "$from" --format list "$@"; } | sort -u |
        while IFS= read -r p; do
            (cd "$from" && cp -L --parents ".$p" "$dir/")
        done
}
if [ ! -e "$images/.complete" ]; then
rm -rf "$images"
mkdir -p "$images"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
tags=$("$bin/kubeadm" config images list --kubernetes-version "v$version")
tag() { echo "$tags" | grep "/$1:"; }

mkdir -p "$stage/pause"
install -m 755 "$bin/pause" "$stage/pause/pause"
image "$stage/pause" "$(tag pause)" /pause

for c in kube-apiserver kube-controller-manager kube-scheduler; do
    mkdir -p "$stage/$c/usr/local/bin"
    install -m 755 "$bin/$c" "$stage/$c/usr/local/bin/"
    image "$stage/$c" "$(tag "$c")" "/usr/local/bin/$c"
done

# etcd: Debian's etcd-server with the C library it loads, as kaudit resolves its closure
log "fetching etcd-server and libc6"
mkdir -p "$stage/debs" "$stage/etcd-pkg" "$stage/etcd/var/lib/etcd" "$stage/etcd/tmp"
libc=$(chroot "$node" dpkg-query -W -f='${Version}' libc6)
(cd "$stage/debs" && apt-get download -qq etcd-server "libc6=$libc" 2>/dev/null)
for d in "$stage"/debs/*.deb; do dpkg -x "$d" "$stage/etcd-pkg"; done
closure "$stage/etcd-pkg" "$stage/etcd" /usr/bin/etcd
image "$stage/etcd" "$(tag etcd)" /usr/bin/etcd

# kube-proxy and the iptables it runs (the node's, nft: the xtables extensions it loads
# with dlopen, which no closure shows, go whole)
mkdir -p "$stage/kube-proxy/usr/local/bin" "$stage/kube-proxy/run" "$stage/kube-proxy/tmp"
install -m 755 "$bin/kube-proxy" "$stage/kube-proxy/usr/local/bin/"
closure "$node" "$stage/kube-proxy" /usr/sbin/xtables-nft-multi
for t in iptables ip6tables; do
    for s in "" -save -restore; do ln -s xtables-nft-multi "$stage/kube-proxy/usr/sbin/$t$s"; done
done
(cd "$node" && cp -a --parents ./usr/lib/x86_64-linux-gnu/xtables "$stage/kube-proxy/")
image "$stage/kube-proxy" "$(tag kube-proxy)" /usr/local/bin/kube-proxy

# busybox for workload pods
mkdir -p "$stage/busybox/bin"
install -m 755 "$node/opt/busybox/bin/busybox" "$stage/busybox/bin/busybox"
for a in sh sleep cat echo ls hostname wget ip ps true; do ln -s busybox "$stage/busybox/bin/$a"; done
image "$stage/busybox" docker.io/library/busybox:1.35 /bin/sh

touch "$images/.complete"
fi
# imported into the root's containerd store: containerd of the root, in namespaces of its
# own (PID, mount), on a socket of its own, without its CRI plugin; nothing is unpacked (the
# node unpacks what it runs)
log "importing ${want[*]} into $root/var/lib/containerd"
mkdir -p "$root/var/lib/containerd"
unshare --mount --pid --fork --kill-child bash -euo pipefail -c '
    root=$1 images=$2
    mount --make-rprivate /
    mount -t proc proc "$root/proc"
    mount -t tmpfs tmpfs "$root/run"
    mount -t tmpfs tmpfs "$root/tmp"
    mkdir -p "$root/tmp/images"
    mount --bind "$images" "$root/tmp/images"
    printf "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n" >"$root/tmp/config.toml"
    chroot "$root" containerd --config /tmp/config.toml --address /run/import.sock >"$root/tmp/log" 2>&1 &
    for _ in $(seq 100); do [ -S "$root/run/import.sock" ] && break; sleep 0.1; done
    shift 2
    for f in "$@"; do
        chroot "$root" ctr --address /run/import.sock -n k8s.io images import --no-unpack "/tmp/images/$f.tar" >/dev/null
    done
    chroot "$root" ctr --address /run/import.sock -n k8s.io images ls -q
    kill %1; wait
' import "$(realpath "$root")" "$(realpath "$images")" "${want[@]}" >&2
touch "$root.complete"
log "done: $root"
