// apply --signed-by and --fallback: what the initramfs of a key-sealed
// machine applies (see README, "A key seal"). Signatures are openssl's
// (`openssl dgst -sha256 -sign`), checked by Bun's crypto; nothing is loaded
// (--dry-run against a pin directory that does not exist).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureCli } from "../support/capture.ts";

const cli = (...args: string[]) => captureCli(args);
const dir = mkdtempSync(join(tmpdir(), "cgw-signed-"));
const CERT = join(dir, "seal.pem");
const KEY = join(dir, "seal.key");
const OTHER_KEY = join(dir, "other.key");
const PIN = ["--pin-dir", "/nonexistent/cgwarden", "--dry-run"];

function openssl(...args: string[]): void {
  const r = Bun.spawnSync(["openssl", ...args]);
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
}
const sign = (file: string, key = KEY) => openssl("dgst", "-sha256", "-sign", key, "-out", `${file}.sig`, file);

/** A policy directory: policy.toml (locking `path`, key-sealed by `cert`) and one drop-in. */
function policyDir(name: string, path: string, cert = "/etc/cgwarden/seal.pem"): string {
  const d = join(dir, name);
  mkdirSync(join(d, "policy.d"), { recursive: true });
  writeFileSync(join(d, "policy.toml"), `[[lock]]\npath = "${path}"\n\n[seal]\nkey = "${cert}"\n`);
  writeFileSync(join(d, "policy.d/10-x.toml"), `[[lock]]\npath = "${path}/x"\n`);
  return d;
}

beforeAll(() => {
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", KEY, "-out", CERT, "-days", "1", "-subj", "/CN=signed-policy-test");
  openssl("genrsa", "-out", OTHER_KEY, "2048");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("apply --signed-by", () => {
  test("every file signed: applied, and the key seal is the trusted certificate whatever the named file holds", async () => {
    const d = policyDir("good", "/a", "/nonexistent/seal.pem");
    for (const f of ["policy.toml", "policy.d/10-x.toml"]) sign(join(d, f));
    const r = await cli("apply", ...PIN, "--json", "--signed-by", CERT, d);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ changed: true, sealChanged: true, added: [{ path: "/a" }, { path: "/a/x" }] });
  });

  test("one file unsigned, or signed by another key, or edited after signing: refused, naming it, nothing changed", async () => {
    const d = policyDir("bad", "/b");
    sign(join(d, "policy.toml"));
    let r = await cli("apply", ...PIN, "--signed-by", CERT, d);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`cgwarden: refusing ${d} (2 files): ${join(d, "policy.d/10-x.toml")} has no signature (${join(d, "policy.d/10-x.toml")}.sig); sign each policy file where the seal's key is (openssl dgst -sha256 -sign KEY -out FILE.sig FILE); nothing was changed`);
    sign(join(d, "policy.d/10-x.toml"), OTHER_KEY);
    r = await cli("apply", ...PIN, "--signed-by", CERT, d);
    expect(r.err).toContain(`10-x.toml.sig is not a signature of ${join(d, "policy.d/10-x.toml")} by the key of CN=signed-policy-test`);
    sign(join(d, "policy.d/10-x.toml"));
    writeFileSync(join(d, "policy.toml"), `[[lock]]\npath = "/b"\ndirections = ["in"]\n`); // root's edit
    r = await cli("apply", ...PIN, "--signed-by", CERT, d);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`policy.toml.sig is not a signature of ${join(d, "policy.toml")}`);
    expect((await cli("apply", ...PIN, "--signed-by", CERT, "-")).err).toContain("standard input cannot carry a signature");
  });

  test("--fallback: the signed copy is applied instead, and stderr says why; an unsigned fallback changes nothing", async () => {
    const edited = policyDir("edited", "/c");
    const carried = policyDir("carried", "/d");
    for (const f of ["policy.toml", "policy.d/10-x.toml"]) sign(join(carried, f));
    const r = await cli("apply", ...PIN, "--json", "--signed-by", CERT, "--fallback", carried, edited);
    expect(r.code).toBe(0);
    expect(r.err).toBe(`cgwarden: NOT applying ${edited} (2 files): ${join(edited, "policy.toml")} has no signature (${join(edited, "policy.toml")}.sig); applying the last signed policy instead (${carried})`);
    expect(JSON.parse(r.out).added.map((a: { path: string }) => a.path)).toEqual(["/d", "/d/x"]);
    // Root deleted the policy: the boot still applies the signed one.
    const gone = await cli("apply", ...PIN, "--signed-by", CERT, "--fallback", carried, join(dir, "deleted"));
    expect(gone.code).toBe(0);
    expect(gone.err).toStartWith(`cgwarden: NOT applying ${join(dir, "deleted")}: cannot read policy file ${join(dir, "deleted")}: no such file`);
    const unsigned = policyDir("unsigned", "/e");
    const none = await cli("apply", ...PIN, "--signed-by", CERT, "--fallback", unsigned, edited);
    expect(none.code).toBe(1);
    expect(none.err).toContain(`the fallback ${unsigned} is no better:`);
  });

  test("--fallback needs --signed-by; a bad certificate says so", async () => {
    expect((await cli("apply", ...PIN, "--fallback", dir, dir)).code).toBe(2);
    const r = await cli("apply", ...PIN, "--signed-by", join(dir, "none.pem"), policyDir("any", "/f"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot read the certificate --signed-by names");
  });
});
