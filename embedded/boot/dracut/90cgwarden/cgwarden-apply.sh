#!/bin/sh
# dracut pre-pivot hook: apply the real root's policy (/etc/cgwarden/policy.toml
# and its policy.d/ drop-ins) once that root is
# mounted at $NEWROOT, just before switch_root (--root: executables and users
# resolve as that system sees them). /sys, with the bpffs under it, moves into
# the new root, so the pins (and the policy) are in force when PID 1 starts.
# Failure never stops the boot: it is reported, and cgwarden.service tries again.
type warn >/dev/null 2>&1 || . /lib/dracut-lib.sh

# A key-sealed machine (module-setup.sh carried the seal's certificate):
# policy signed by its key only, else the signed copy carried here.
cgwarden_signed=
[ -f /etc/cgwarden/seal.pem ] && cgwarden_signed="--signed-by /etc/cgwarden/seal.pem --fallback /etc/cgwarden/signed"
[ -x /usr/sbin/cgwarden ] && { [ -f "$NEWROOT/etc/cgwarden/policy.toml" ] || [ -n "$cgwarden_signed" ]; } || return 0

# In the shell itself: an initramfs need not have grep.
cgwarden_mounted() {
	local _dev _mp _type _rest
	while read -r _dev _mp _type _rest; do
		[ "$_mp" = "$1" ] && [ "$_type" = "$2" ] && return 0
	done < /proc/mounts
	return 1
}

mkdir -p /sys/fs/cgroup
cgwarden_mounted /sys/fs/cgroup cgroup2 || mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
cgwarden_mounted /sys/fs/bpf bpf || mount -t bpf -o mode=700 bpf /sys/fs/bpf
cgwarden_mounted /sys/kernel/security securityfs || mount -t securityfs securityfs /sys/kernel/security

if out=$(CGWARDEN_ORIGIN=initramfs NO_COLOR=1 /usr/sbin/cgwarden apply --root "$NEWROOT" $cgwarden_signed "$NEWROOT/etc/cgwarden" 2>&1); then
	info "cgwarden: $out"
else
	warn "cgwarden: policy not applied from the initramfs: $out"
fi
