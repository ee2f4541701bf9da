#!/bin/sh
# dracut pre-pivot hook: apply the real root's policy once that root is
# mounted at $NEWROOT, just before switch_root (--root: executables and users
# resolve as that system sees them). /sys, with the bpffs under it, moves into
# the new root, so the pins (and the policy) are in force when PID 1 starts.
# Failure never stops the boot: it is reported, and cgwarden.service tries again.
type warn >/dev/null 2>&1 || . /lib/dracut-lib.sh

[ -x /usr/sbin/cgwarden ] && [ -f "$NEWROOT/etc/cgwarden/policy.toml" ] || return 0

mkdir -p /sys/fs/cgroup
grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts || mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf -o mode=700 bpf /sys/fs/bpf
grep -q ' /sys/kernel/security securityfs ' /proc/mounts || mount -t securityfs securityfs /sys/kernel/security

if out=$(CGWARDEN_ORIGIN=initramfs NO_COLOR=1 /usr/sbin/cgwarden apply --root "$NEWROOT" "$NEWROOT/etc/cgwarden/policy.toml" 2>&1); then
	info "cgwarden: $out"
else
	warn "cgwarden: policy not applied from the initramfs: $out"
fi
