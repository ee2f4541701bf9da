// How the seal is shown, by `seal`, `status` and anything else that reports it.
import { describeManagers, type SealState } from "../pins/state.ts";

export interface SealView {
  sealed: boolean;
  untilReboot: boolean;
  lockBpf: boolean;
  managers: Array<{ exe: string; pid: number | null }>;
  key: { subject: string; sha256: string; keyring: number } | null;
  sealedAt: string | null;
  text: string;
}

export function describeSeal(seal: SealState): SealView {
  const text = !seal.sealed
    ? "seal:       none (any root process can change, detach or unpin the policy)"
    : [
        `seal:       sealed since ${seal.sealedAt?.toISOString() ?? "?"}${seal.lockBpf ? ", --lock-bpf" : ""}`,
        `managers:   ${describeManagers(seal)}`,
        ...(seal.key ? [`key:        ${seal.key.subject}, sha256 ${seal.key.sha256} (keyring ${seal.key.ring})`] : []),
      ].join("\n");
  return {
    sealed: seal.sealed,
    untilReboot: seal.untilReboot,
    lockBpf: seal.lockBpf,
    managers: seal.managers.map((m) => ({ exe: m.exe, pid: m.pid || null })),
    key: seal.key ? { subject: seal.key.subject, sha256: seal.key.sha256, keyring: seal.key.ring } : null,
    sealedAt: seal.sealedAt?.toISOString() ?? null,
    text,
  };
}
