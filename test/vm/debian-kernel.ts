// Debian's prebuilt cloud kernels (linux-image-*-cloud-amd64-unsigned),
// fetched with apt-get download and unpacked into the cache, plus the
// modules the initramfs must load to reach the host over virtiofs.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { aptUpdateOnce, cacheDir, ensureDebs, exists, progress, withLock } from "./util.ts";
import { runOkAsync, spawnAsync } from "../../scripts/project.ts";

export interface DebianKernelSpec {
  /** Metapackage whose dependency names the current image, e.g.
   * linux-image-cloud-amd64 -> linux-image-6.1.0-NN-cloud-amd64. */
  metapackage: string;
  /** Fallback when the metapackage cannot be resolved: newest package whose
   * name matches this (an apt-cache search regex). */
  searchRegex: string;
}

export interface DebianKernel {
  package: string;
  version: string;
  bzImage: string;
  /** Host paths of uncompressed .ko files, in insmod order. */
  modules: string[];
}

/** Modules that must end up loaded for virtiofs over PCI; their
 * dependencies are found from each module's own "depends=" field. */
const NEEDED_MODULES = ["virtio_pci", "virtiofs"];

const COMPLETE_MARK = ".cgwarden-complete";
const MODULES_JSON = "cgwarden-modules.json";

async function resolvePackage(spec: DebianKernelSpec): Promise<string> {
  const fromMeta = async (): Promise<string | undefined> => {
    const r = await spawnAsync(["apt-cache", "depends", spec.metapackage]);
    const m = /^\s*Depends:\s*(linux-image-\S+)/m.exec(r.out);
    if (r.code !== 0 || !m?.[1]) return undefined;
    // The metapackage depends on the signed image; the -unsigned twin has
    // the same kernel and is what QEMU can boot without shim.
    return m[1].endsWith("-unsigned") ? m[1] : `${m[1]}-unsigned`;
  };
  const fromSearch = async (): Promise<string | undefined> => {
    const r = await spawnAsync(["apt-cache", "search", "--names-only", spec.searchRegex]);
    const names = r.out
      .split("\n")
      .map((l) => l.split(" ")[0] ?? "")
      .filter((n) => n.length > 0);
    names.sort(compareVersionish);
    return names.at(-1);
  };
  const found = (await fromMeta()) ?? (await fromSearch());
  if (found) return found;
  await aptUpdateOnce();
  const again = (await fromMeta()) ?? (await fromSearch());
  if (!again) throw new Error(`no Debian kernel package found for ${spec.metapackage} / ${spec.searchRegex}`);
  return again;
}

/** Orders names like linux-image-6.12.9+... before linux-image-6.12.117+...
 * by comparing digit runs numerically (a tiny `sort -V`). */
function compareVersionish(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    if (x === y) continue;
    if (/^\d+$/.test(x) && /^\d+$/.test(y)) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return 0;
}

async function candidateVersion(pkg: string): Promise<string | undefined> {
  const r = await spawnAsync(["apt-cache", "show", "--no-all-versions", pkg]);
  return /^Version:\s*(\S+)/m.exec(r.out)?.[1];
}

export async function ensureDebianKernel(spec: DebianKernelSpec): Promise<DebianKernel> {
  const pkg = await resolvePackage(spec);
  let version = await candidateVersion(pkg);
  if (!version) {
    await aptUpdateOnce();
    version = await candidateVersion(pkg);
  }
  if (!version) throw new Error(`apt knows no version of ${pkg}`);

  const root = join(cacheDir(), "debian");
  const dir = join(root, `${pkg}_${version}`);
  if (!exists(join(dir, COMPLETE_MARK))) {
    await withLock(join(root, `${pkg}.lock`), `download of ${pkg}`, async () => {
      if (!exists(join(dir, COMPLETE_MARK))) await downloadAndUnpack(pkg, version, dir, { apt: ["apt-get"], refresh: aptUpdateOnce, modules: prepareModules });
    });
  }
  return {
    package: pkg,
    version,
    bzImage: findVmlinuz(dir),
    modules: (JSON.parse(readFileSync(join(dir, MODULES_JSON), "utf8")) as string[]).map((m) => join(dir, m)),
  };
}

/** How a package is fetched and what of it the initramfs loads. */
interface Unpacking {
  /** apt-get, with options (Debian unstable's private state) or without (the host's). */
  apt: string[];
  /** Called when a download fails, before one more try; none: fail at once. */
  refresh?: () => Promise<void>;
  /** The initramfs's modules in the unpacked tree, in insmod order. */
  modules: (tree: string) => Promise<string[]>;
}

async function downloadAndUnpack(pkg: string, version: string, dir: string, how: Unpacking): Promise<void> {
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  progress(`downloading ${pkg}=${version}`);
  const dl = [...how.apt, "download", `${pkg}=${version}`];
  // _apt cannot write into root-owned cache dirs; apt then warns and
  // downloads as root, which is fine here.
  const first = await spawnAsync(dl, { cwd: tmp });
  if (first.code !== 0) {
    if (!how.refresh) throw new Error(`${dl.join(" ")} failed (exit ${first.code}): ${first.err.trim()}`);
    await how.refresh(); // the mirror may have dropped this version
    await runOkAsync(dl, { cwd: tmp });
  }
  const deb = readdirSync(tmp).find((f) => f.endsWith(".deb"));
  if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
  const tree = join(tmp, "root");
  await runOkAsync(["dpkg-deb", "-x", join(tmp, deb), tree]);
  rmSync(join(tmp, deb));
  const modules = await how.modules(tree);
  writeFileSync(join(tree, MODULES_JSON), JSON.stringify(modules.map((m) => m.slice(tree.length + 1))));
  writeFileSync(join(tree, COMPLETE_MARK), `${pkg} ${version}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tree, dir);
  rmSync(tmp, { recursive: true, force: true });
}

function findVmlinuz(dir: string): string {
  const v = readdirSync(join(dir, "boot")).find((f) => f.startsWith("vmlinuz-"));
  if (!v) throw new Error(`no vmlinuz in ${dir}/boot`);
  return join(dir, "boot", v);
}

const normalize = (name: string): string => name.replace(/-/g, "_");
const moduleName = (file: string): string => normalize(basename(file).replace(/\.ko(\.xz|\.zst|\.gz)?$/, ""));

function walk(dir: string, out: string[]): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.ko(\.xz|\.zst|\.gz)?$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Read "depends=" from the module's .modinfo strings: no depmod output
 * ships in the .deb, and this needs no kmod on the host. */
function moduleDepends(ko: Uint8Array): string[] {
  const text = Buffer.from(ko).toString("latin1");
  const m = /\0depends=([^\0]*)\0/.exec(text);
  return m?.[1] ? m[1].split(",").filter(Boolean).map(normalize) : [];
}

/** busybox insmod cannot read compressed modules (6.12 cloud ships .ko.xz),
 * so decompress on the host into plain .ko files. */
async function plainModule(file: string, outDir: string): Promise<string> {
  const out = join(outDir, `${moduleName(file)}.ko`);
  if (file.endsWith(".ko")) return file;
  const tool = file.endsWith(".xz") ? "xz" : file.endsWith(".zst") ? "zstd" : "gzip";
  await ensureDebs([tool === "xz" ? "xz-utils" : tool]);
  const data = await runBinary([tool, "-dc", file]);
  writeFileSync(out, data);
  return out;
}

async function runBinary(argv: string[]): Promise<Uint8Array> {
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [buf, code] = await Promise.all([new Response(p.stdout).arrayBuffer(), p.exited]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited with ${code}`);
  return new Uint8Array(buf);
}

async function prepareModules(tree: string): Promise<string[]> {
  const modRoot = join(tree, "lib", "modules");
  const kver = readdirSync(modRoot)[0];
  if (!kver) throw new Error(`no lib/modules in ${tree}`);
  const base = join(modRoot, kver);
  const builtin = new Set(
    readFileSync(join(base, "modules.builtin"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map(moduleName),
  );
  const files = new Map(walk(join(base, "kernel"), []).map((f) => [moduleName(f), f] as const));
  const plainDir = join(tree, "cgwarden-initramfs-modules");
  mkdirSync(plainDir, { recursive: true });

  const order: string[] = [];
  const seen = new Set<string>();
  // Depth-first, dependencies first: insmod needs them loaded already.
  const visit = async (name: string): Promise<void> => {
    if (seen.has(name) || builtin.has(name)) return;
    seen.add(name);
    const file = files.get(name);
    if (!file) throw new Error(`kernel ${kver}: module ${name} is neither built in nor shipped`);
    const plain = await plainModule(file, plainDir);
    for (const dep of moduleDepends(readFileSync(plain))) await visit(dep);
    order.push(plain);
  };
  for (const m of NEEDED_MODULES) await visit(m);
  progress(`kernel ${kver}: initramfs modules: ${order.map(moduleName).join(" ") || "(none, all built in)"}`);
  return order;
}

/**
 * Debian unstable's newest cloud kernel: what admins on a rolling or newer
 * distribution run (7.2 at the time of writing: LSM return ranges checked by
 * the verifier, kernfs_node.__parent). Fetched through a private apt state
 * so the host's own sources and lists are never touched. The first fetch
 * takes whatever sid ships then; later runs reuse that kernel from the
 * cache (CGWARDEN_SID_REFRESH=1 fetches the newest again).
 */
export async function ensureSidKernel(): Promise<DebianKernel> {
  const root = join(cacheDir(), "debian-sid");
  mkdirSync(root, { recursive: true });
  const cached = readdirSync(root).filter((d) => exists(join(root, d, COMPLETE_MARK)));
  if (cached.length && process.env.CGWARDEN_SID_REFRESH !== "1") return sidKernelAt(root, cached.sort(compareVersionish).at(-1)!);
  return withLock(join(root, "fetch.lock"), "download of Debian unstable's kernel", async () => {
    const apt = sidApt(root);
    progress("apt-get update against Debian unstable (private lists, about 11 MB)");
    await runOkAsync([...apt, "update"], { env: { DEBIAN_FRONTEND: "noninteractive" } });
    const search = await runOkAsync(["apt-cache", ...apt.slice(1), "search", "--names-only", "^linux-binary-unsigned-.*-cloud-amd64$"]);
    const pkg = search.split("\n").map((l) => l.split(" ")[0] ?? "").filter(Boolean).sort(compareVersionish).at(-1);
    if (!pkg) throw new Error("Debian unstable lists no linux-binary-unsigned-*-cloud-amd64 package");
    const show = await runOkAsync(["apt-cache", ...apt.slice(1), "show", "--no-all-versions", pkg]);
    const version = /^Version:\s*(\S+)/m.exec(show)?.[1];
    if (!version) throw new Error(`apt knows no version of ${pkg} in Debian unstable`);
    const name = `${pkg}_${version}`;
    const dir = join(root, name);
    // The package carries the image alone (modules are another package):
    // virtio, virtiofs and fuse are built into the cloud flavour.
    if (!exists(join(dir, COMPLETE_MARK))) await downloadAndUnpack(pkg, version, dir, { apt, modules: async () => [] });
    return sidKernelAt(root, name);
  });
}

/** apt-get with sid's sources and a private state; the host's keyring verifies it. */
function sidApt(root: string): string[] {
  const state = join(root, "apt");
  mkdirSync(join(state, "lists", "partial"), { recursive: true });
  mkdirSync(join(state, "cache", "archives", "partial"), { recursive: true });
  const sources = join(state, "sources.list");
  writeFileSync(sources, "deb http://deb.debian.org/debian sid main\n");
  return [
    "apt-get",
    "-o", `Dir::Etc::SourceList=${sources}`,
    "-o", "Dir::Etc::SourceParts=/dev/null",
    "-o", `Dir::State::Lists=${join(state, "lists")}`,
    "-o", `Dir::Cache=${join(state, "cache")}`,
    "-o", "APT::Get::List-Cleanup=0",
  ];
}

function sidKernelAt(root: string, name: string): DebianKernel {
  const dir = join(root, name);
  const [pkg = name, version = ""] = name.split("_");
  const release = readdirSync(join(dir, "usr/lib/modules"))[0];
  if (!release) throw new Error(`no usr/lib/modules in ${dir}`);
  return {
    package: pkg,
    version,
    bzImage: join(dir, "usr/lib/modules", release, "vmlinuz.unsigned"),
    modules: (JSON.parse(readFileSync(join(dir, MODULES_JSON), "utf8")) as string[]).map((m) => join(dir, m)),
  };
}
