#!/usr/bin/env bash
# Checks what the examples need on a Debian 12 machine and installs what is missing (as root,
# with apt-get), or stops naming the one command that installs it. Usage:
#   bash examples/prerequisites.sh [quickstart|kubeadm]
# Exit status 0 when everything is there (or was installed), 1 when something is missing and
# could not be installed.
set -euo pipefail

what="${1:-quickstart}"

# command or file -> the Debian package that provides it
declare -A need=(
    [cc]=gcc
    [clang]=clang
    [/usr/include/bpf/bpf_helpers.h]=libbpf-dev
    [mmdebstrap]=mmdebstrap
    [mksquashfs]=squashfs-tools
    [sqlite3]=sqlite3
    [bc]=bc
    [ip]=iproute2
    [chroot]=coreutils
    [unshare]=util-linux
    [nsenter]=util-linux
    # the example root is built with its units enabled, and boots
    [systemctl]=systemd
    [systemd-nspawn]=systemd-container
    [dnsmasq]=dnsmasq-base
)

missing=()
for x in "${!need[@]}"; do
    case "$x" in
    /*) [ -e "$x" ] || missing+=("${need[$x]}") ;;
    *) command -v "$x" >/dev/null 2>&1 || missing+=("${need[$x]}") ;;
    esac
done
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sed '/^$/d' | sort -u)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing what the $what example needs: ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "the $what example needs packages that are not installed; as root, run:" >&2
        echo "  apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "the $what example builds kaudit with cargo, which is not on PATH: install a Rust toolchain (1.85 or newer)" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "the $what example traces a node root with fanotify, namespaces and BPF: run it as root" >&2
    exit 1
fi
