#!/bin/bash
# dracut module: put cgwarden and libbpf into the initramfs, so the policy is
# in force before the real root's PID 1 starts (cgwarden-apply.sh, a
# pre-pivot hook, applies the real root's own policy file). Installed by
# 'cgwarden install-files'.

check() {
	require_binaries cgwarden || return 1
	# Only when there is a policy to apply; otherwise leave initramfs alone.
	[[ -f /etc/cgwarden/policy.toml ]] || return 255
	return 0
}

depends() {
	return 0
}

install() {
	local libbpf lib
	inst_binary cgwarden /usr/sbin/cgwarden
	# cgwarden opens libbpf with dlopen(), which dracut's ldd walk cannot see.
	# Its own libraries (libelf, libz) are named here too: dracut resolves
	# dependencies late, and only of executable files, which libraries are not.
	libbpf=$(ldconfig -p | sed -n 's/^[[:space:]]*libbpf\.so\.1 (libc6,x86-64) => //p' | head -n 1)
	if [[ -n $libbpf ]]; then
		for lib in "$libbpf" $(ldd "$libbpf" | sed -n 's/^.* => \(\/[^ ]*\) .*$/\1/p'); do
			inst_library "$lib"
		done
	else
		dwarn "cgwarden: libbpf.so.1 not found; the policy will only be applied by cgwarden.service"
	fi
	# A key-sealed machine: the seal's certificate, and today's signed policy
	# for the boot to apply when the files on disk are not signed (cgwarden-apply.sh).
	if [[ -f /etc/cgwarden/seal.pem ]]; then
		local f rel
		inst_simple /etc/cgwarden/seal.pem /etc/cgwarden/seal.pem
		for f in /etc/cgwarden/policy.toml /etc/cgwarden/policy.d/*.toml /etc/cgwarden/policy.d/*.json; do
			[[ -f $f ]] || continue
			rel=${f#/etc/cgwarden/}
			inst_simple "$f" "/etc/cgwarden/signed/$rel"
			[[ -f $f.sig ]] && inst_simple "$f.sig" "/etc/cgwarden/signed/$rel.sig"
		done
		cgwarden apply --dry-run --signed-by /etc/cgwarden/seal.pem /etc/cgwarden >/dev/null 2>&1 ||
			dwarn "cgwarden: /etc/cgwarden is not all signed by the key of /etc/cgwarden/seal.pem: the boot will refuse it"
	fi
	inst_hook pre-pivot 90 "$moddir/cgwarden-apply.sh"
}
