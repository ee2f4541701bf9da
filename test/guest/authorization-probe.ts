// A process that speaks the key seal's exchange by hand, for the routes the
// CLI never takes (bpf/seal_key.bpf.h): it reads its own challenge from the
// kernel, and presents whatever signature the route gives it. Run by the
// seal suite in the guest, as root and no manager. One line on stdout:
// "ok", or "err ERRNO".
//
//   challenge OUT      write this process's challenge to OUT, wait for OUT.sig, present it
//   twice CERT KEY     sign its own challenge, present it, then present it again
//   unlink-ring SERIAL unlink a keyring from root's user keyring
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { BpfError, MapFd, unlinkKey, USER_KEYRING } from "../../cli/libbpf/index.ts";
import { processFacts } from "../../cli/kernel/procfs.ts";
import { AuthorizationLayout, ChallengeLayout, ProcessKeyLayout } from "../../cli/object/abi.ts";

const PIN_DIR = process.env.CGWARDEN_PIN_DIR ?? "/sys/fs/bpf/cgwarden";
const me = processFacts(process.pid);
const key = ProcessKeyLayout.encode({ tgid: me.tgid, start_ticks: me.startTicks });

function challenge(): Buffer {
  const board = MapFd.openPinned(`${PIN_DIR}/maps/challenge_board`, true)!;
  try {
    const c = board.lookup(key, ChallengeLayout.size);
    if (!c) throw new Error("no challenge issued");
    return c;
  } finally {
    board.close();
  }
}

function present(pkcs7: Buffer): string {
  const m = MapFd.openPinned(`${PIN_DIR}/maps/authorizations`)!;
  try {
    m.update(key, AuthorizationLayout.encode({ len: pkcs7.length, pkcs7 }));
    return "ok";
  } catch (e) {
    if (e instanceof BpfError) return `err ${e.errno}`;
    throw e;
  } finally {
    m.close();
  }
}

function sign(data: Buffer, cert: string, keyFile: string): Buffer {
  const r = Bun.spawnSync(["openssl", "cms", "-sign", "-binary", "-noattr", "-outform", "DER", "-signer", cert, "-inkey", keyFile], { stdin: data });
  if (r.exitCode !== 0) throw new Error(`openssl: ${r.stderr.toString()}`);
  return Buffer.from(r.stdout);
}

const [op, a, b] = process.argv.slice(2);
if (op === "challenge") {
  writeFileSync(a!, challenge());
  while (!existsSync(`${a}.sig`)) await Bun.sleep(20);
  await Bun.sleep(50);
  console.log(present(readFileSync(`${a}.sig`)));
} else if (op === "twice") {
  const sig = sign(challenge(), a!, b!);
  console.log(`${present(sig)} ${present(sig)}`);
} else if (op === "unlink-ring") {
  unlinkKey(Number(a), USER_KEYRING);
  console.log("ok");
} else {
  console.error(`usage: ${process.argv[1]} challenge OUT | twice CERT KEY | unlink-ring SERIAL`);
  process.exit(2);
}
