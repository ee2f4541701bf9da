#!/usr/bin/env bash
# Everything cgwarden needs on a fresh Debian 12 machine, as root: Debian
# packages, then Bun and the npm dependencies from the lockfile. Idempotent;
# the guest kernels are fetched or built later, on first use, and cached in
# /var/cache/cgwarden-test (see test/vm/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build: the BPF object and the test fixtures
  clang-16 llvm-16 libbpf-dev gcc libc6-dev
  # run: the CLI dlopens libbpf.so.1; tests inspect links with bpftool
  libbpf1 bpftool
  # the man page test renders cgwarden(8)
  man-db groff-base
  # guests: QEMU, virtiofsd (in qemu-system-x86), a static busybox for the initramfs
  qemu-system-x86 busybox-static cpio util-linux xz-utils zstd
  # the patched 6.12 kernel
  linux-source-6.12 build-essential bc bison flex libelf-dev libssl-dev dwarves
  # the Debian system image with systemd (test/system), and systemd-analyze for the unit test
  mmdebstrap e2fsprogs systemd
  # the Debian package (scripts/deb.ts): dpkg-deb builds it, lintian checks it
  lintian
  # the fleet scenario drives the system image with the Ansible role (packaging/ansible), over SSH
  ansible-core openssh-client
)
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Bun comes from the npm registry as a pinned devDependency.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/bun ] || [ "$(cat node_modules/.cgwarden-lock 2>/dev/null)" != "$lock_sum" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.cgwarden-lock
fi
node_modules/.bin/bun --version >/dev/null
