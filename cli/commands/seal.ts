import { defineCommand } from "./_define.ts";
import { print, printJson } from "../output.ts";
import { applySeal, cliIdentity, sealSpecOf, type SealChange } from "../pins/seal.ts";
import { notLoaded, withLoadedPolicyWriter, withPolicyReader } from "../pins/session.ts";
import { parseManagers } from "../policy/lookup.ts";
import { UsageError } from "../errors.ts";
import { sameSeal, sealProblem, type SealSpec } from "../policy/spec.ts";
import { allValues } from "./_argv.ts";
import { parsePid } from "../policy/numbers.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";
import { describeSeal } from "./_seal.ts";
import { resolve } from "node:path";
import { readCertificateFile } from "../kernel/keyring.ts";

export default defineCommand({
  meta: {
    name: "seal",
    description: "Seal the policy: from now on only managers may change, detach or unpin it (cgwarden must be loaded)",
  },
  args: {
    "manager-exe": {
      type: "string",
      description: "A manager: any process that really executed this file (repeatable)",
      valueHint: "PATH",
      repeatable: true,
    },
    "manager-pid": {
      type: "string",
      description: "A manager: that one running process, by pid and start time (repeatable)",
      valueHint: "PID",
      repeatable: true,
    },
    "until-reboot": { type: "boolean", description: "No managers at all: nothing changes the policy until the next boot" },
    key: {
      type: "string",
      description: "A key seal: no managers; a process may change the policy once the kernel verified its authorization, signed by this certificate's key (X.509, PEM or DER)",
      valueHint: "CERT",
    },
    "lock-bpf": {
      type: "boolean",
      description: "Also refuse new fentry, fexit, fmod_ret, LSM, freplace and kprobe-override programs to all but managers",
    },
    ...jsonArg,
    ...pinArgs,
  },
  async run({ args, rawArgs }) {
    const { pinDir } = pinContext(args);
    const exes = allValues(rawArgs, "manager-exe");
    const pids = allValues(rawArgs, "manager-pid").map((p) => parsePid(p, "--manager-pid"));
    const untilReboot = !!args["until-reboot"];
    const keyPath = args.key as string | undefined;
    const stated = sealProblem({ managers: [...exes, ...pids], untilReboot, key: keyPath });
    if (stated) throw new UsageError(stated);
    const key = keyPath === undefined ? undefined : { path: resolve(keyPath), ...readCertificateFile(resolve(keyPath)) };
    const desired: SealSpec = { managers: parseManagers(exes, pids), untilReboot, lockBpf: !!args["lock-bpf"], ...(key ? { key } : {}) };
    // Sealing again as it is writes nothing, so it succeeds for anyone; a change needs a manager.
    const same = withPolicyReader(pinDir, (state) => (sameSeal(sealSpecOf(state.seal()), desired) ? state.seal() : null));
    // Sealing is not a reason to load: a seal on nothing protects nothing.
    let r: SealChange | null;
    if (same) r = { changed: false, seal: same };
    else {
      const cli = cliIdentity(desired); // refused before anything is loaded or changed
      r = await withLoadedPolicyWriter(pinDir, (state) => applySeal(state, desired, cli));
    }
    if (r === null) throw notLoaded(pinDir);
    const { changed, seal } = r;
    if (args.json) return printJson({ changed, seal: describeSeal(seal) });
    print(changed ? `sealed the policy at ${pinDir}` : `the policy at ${pinDir} is already sealed so; nothing changed`);
    print(describeSeal(seal).text);
  },
});

export const examples = [
  "cgwarden seal --manager-pid 1                     # only PID 1 (and cgwarden run by it) may change the policy",
  "cgwarden seal --manager-exe /usr/local/sbin/fleet-agent --lock-bpf",
  "cgwarden seal --until-reboot                      # nobody, until the next boot",
  "cgwarden seal --key /etc/cgwarden/seal.pem        # only processes the key's holder authorizes, one at a time",
];
