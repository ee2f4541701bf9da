// Decision records from the pinned flight recorder, and how admins read them.
import { readFileSync, readlinkSync, statSync } from "node:fs";
import type { PinnedState } from "../pins/state.ts";
import { RecordLayout, Verdict, Via, knobName, refusalName, tamperName, viaName, type RecordValue, type TamperName } from "../object/abi.ts";
import { CgroupNames } from "../kernel/cgroupfs.ts";
import { mechanismByCode } from "../object/mechanism.ts";
import { CliError, UsageError } from "../errors.ts";
import { BPF_COMMANDS } from "../libbpf/uapi.ts";
import { u32Key as key } from "../object/struct.ts";
import type { ReplayRecord } from "../policy/what-if.ts";

/** Names of the pinned maps this reader could open, by map id: how tamper records name their object. */
export function pinnedMapNames(state: PinnedState): Map<number, string> {
  const out = new Map<number, string>();
  for (const [name, map] of Object.entries(state.maps)) if (!state.hidden.has(name as keyof PinnedState["maps"])) out.set(map.info().id, name);
  return out;
}

/** Every record the recorder still holds, oldest first. */
export function readRecords(state: PinnedState): RecordValue[] {
  const head = headSeq(state);
  const slots = state.settings().recorder_slots;
  if (!slots || head === 0n) return [];
  const first = head > BigInt(slots) ? head - BigInt(slots) + 1n : 1n;
  const out: RecordValue[] = [];
  for (let seq = first; seq <= head; seq++) {
    const raw = state.maps.recorder.lookup(key(Number(seq % BigInt(slots))), RecordLayout.size);
    if (!raw) continue;
    const r = RecordLayout.decode(raw);
    if (r.seq === seq) out.push(r); // otherwise being rewritten right now
  }
  return out;
}

/** One record by its sequence number, from its slot; null once it has been overwritten. */
export function recordBySeq(state: PinnedState, seq: number): RecordValue | null {
  const slots = state.settings().recorder_slots;
  if (!slots || seq < 1) return null;
  const raw = state.maps.recorder.lookup(key(seq % slots), RecordLayout.size);
  const r = raw ? RecordLayout.decode(raw) : null;
  return r && r.seq === BigInt(seq) ? r : null;
}

export function headSeq(state: PinnedState): bigint {
  return state.maps.recorder_head.lookup(key(0), 8)?.readBigUInt64LE(0) ?? 0n;
}

export type VerdictFilter = "denied" | "audit" | "all";

export interface RecordFilter {
  sinceMs?: number;
  verdict: VerdictFilter;
  ruleId?: number;
}

export function matches(r: RecordValue, f: RecordFilter, nowBootMs: number): boolean {
  if (f.verdict === "denied" && r.verdict !== Verdict.deny) return false;
  if (f.verdict === "audit" && r.verdict !== Verdict.audit) return false;
  if (f.ruleId !== undefined && r.rule_id !== f.ruleId) return false;
  if (f.sinceMs !== undefined && Number(r.time_ns / 1_000_000n) < nowBootMs - f.sinceMs) return false;
  return true;
}

/** CLOCK_BOOTTIME now, in ms: /proc/uptime counts from boot, suspend included, as the records do. */
export function bootNowMs(): number {
  return Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000;
}

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new UsageError(`--since takes a duration like 30s, 10m, 2h or 1d, not '${text}'`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "ms" | "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

const VERDICT_WORDS = { [Verdict.allow]: "allowed", [Verdict.deny]: "denied", [Verdict.audit]: "audit" } as const;

export interface RecordView {
  seq: number;
  time: string;
  verdict: "allowed" | "denied" | "audit";
  via: string;
  mechanism: string;
  rule: { id: number; cgroupId: bigint; cgroup: string | null };
  src: { id: bigint; path: string | null };
  dst: { id: bigint; path: string | null };
  actor: { pid: number; tgid: number; euid: number; comm: string; startTicks: bigint; cgroupId: bigint; cgroup: string | null; exe: { dev: bigint; ino: bigint; path: string | null } };
  task: { pid: number; tgid: number; comm: string };
  threadgroup: boolean;
  /** A refused attempt on a sealed policy (via "tamper"): what it aimed at. */
  tamper: { kind: string; object: string } | null;
}

/** A map of the pins by its id, or `unknown` when no pin names that id. */
function mapLabel(id: bigint, mapNames: ReadonlyMap<number, string>, unknown = `map id ${id}`): string {
  return mapNames.has(Number(id)) ? `maps/${mapNames.get(Number(id))} (map id ${id})` : unknown;
}

/** A refused bpf(2) command: object is cmd << 32 | the id of cgwarden's object it named (0: the command itself is refused). */
function bpfCommandObject(object: bigint, mapNames: ReadonlyMap<number, string>): string {
  const cmd = Number(object >> 32n);
  const id = object & 0xffffffffn;
  const name = BPF_COMMANDS[cmd] ?? `bpf command ${cmd}`;
  if (!id) return `${name} (not open to non-managers while sealed)`;
  return `${name} on ${mapLabel(id, mapNames, `cgwarden's object id ${id}`)}`;
}

/** What a tamper record's object is, in words: enum cgw_tamper in bpf/cgwarden.h says what `object` holds. */
function tamperObject(kind: TamperName | undefined, object: bigint, mapNames: ReadonlyMap<number, string>): string {
  const map = (id: bigint) => mapLabel(id, mapNames);
  switch (kind) {
    case "map-open":
      return `an fd to ${map(object)}`;
    case "map-write":
      return `writing ${map(object)} through an fd opened before the seal`;
    case "prog-uses":
      return `a new program using ${mapLabel(object, mapNames, `cgwarden's map or program id ${object}`)}`;
    case "link":
      return `detaching or updating link id ${object}`;
    case "bpf-locked":
      return `loading a program of a locked kind (type ${object >> 32n}, attach type ${object & 0xffffffffn}) under --lock-bpf`;
    case "unlink":
      return `removing a pin (inode ${object})`;
    case "rename":
      return `renaming in the pin directory (inode ${object})`;
    case "umount":
      return `unmounting the bpffs of the pins (dev ${object >> 8n}:${object & 0xffn})`;
    case "ptrace":
      return `ptrace, /proc/PID/mem or pidfd_getfd of manager process ${object}`;
    case "bpf-command":
      return bpfCommandObject(object, mapNames);
    case "knob":
      return `writing ${knobName(Number(object)) ?? `kernel knob ${object}`}`;
    case "authorization":
      return `an authorization for the key seal: ${refusalName(Number(object)) ?? `refused (${object})`}`;
    default:
      return `object ${object}`;
  }
}

export function viewRecord(r: RecordValue, names: CgroupNames, nowBootMs: number, mapNames: ReadonlyMap<number, string> = new Map()): RecordView {
  const wall = Date.now() - (nowBootMs - Number(r.time_ns / 1_000_000n));
  return {
    seq: Number(r.seq),
    time: new Date(wall).toISOString(),
    verdict: VERDICT_WORDS[r.verdict as 0 | 1 | 2] ?? "denied",
    via: viaName(r.via) ?? `via ${r.via}`,
    mechanism: mechanismByCode(r.mechanism)?.name ?? `mechanism ${r.mechanism}`,
    rule: { id: r.rule_id, cgroupId: r.rule_cgroup, cgroup: r.rule_id ? names.pathOf(r.rule_cgroup) : null },
    // The paths the record carries are the cgroups' when the decision was taken; the live tree names only what is still there.
    src: { id: r.src_cgroup, path: r.src_path || names.pathOf(r.src_cgroup) },
    dst: { id: r.dst_cgroup, path: r.dst_path || names.pathOf(r.dst_cgroup) },
    actor: {
      pid: r.actor_pid,
      tgid: r.actor_tgid,
      euid: r.actor_euid,
      comm: r.actor_comm,
      startTicks: r.actor_start_ticks,
      cgroupId: r.actor_cgroup,
      cgroup: r.actor_path || names.pathOf(r.actor_cgroup),
      exe: { dev: r.actor_exe_dev, ino: r.actor_exe_ino, path: exePath(r.actor_tgid, r.actor_exe_dev, r.actor_exe_ino) },
    },
    task: { pid: r.task_pid, tgid: r.task_tgid, comm: r.task_comm },
    threadgroup: r.threadgroup !== 0,
    tamper: r.via === Via.tamper ? { kind: tamperName(r.tamper) ?? `tamper ${r.tamper}`, object: tamperObject(tamperName(r.tamper), r.object, mapNames) } : null,
  };
}

// The executable is known by device and inode; while the actor lives, /proc names the path.
function exePath(tgid: number, dev: bigint, ino: bigint): string | null {
  try {
    const st = statSync(`/proc/${tgid}/exe`, { bigint: true });
    if (st.dev === dev && st.ino === ino) return readlinkSync(`/proc/${tgid}/exe`);
  } catch {
    // exited
  }
  return null;
}

const showPath = (p: string | null, id: bigint) => p ?? `(deleted, id ${id})`;

export function formatRecord(v: RecordView): string {
  const time = v.time.replace("T", " ").replace(/\.\d+Z$/, "");
  const exe = v.actor.exe.path ?? `dev ${v.actor.exe.dev} ino ${v.actor.exe.ino}`;
  if (v.tamper) return `#${v.seq} ${time} ${v.verdict.padEnd(7)} ${v.via.padEnd(7)} ${v.actor.comm}[${v.actor.tgid}] uid ${v.actor.euid} (${exe})  ${v.tamper.kind}: ${v.tamper.object}  (sealed)`;
  const rule = v.rule.id ? `rule ${v.rule.id} on ${showPath(v.rule.cgroup, v.rule.cgroupId)}` : "no rule";
  return `#${v.seq} ${time} ${v.verdict.padEnd(7)} ${v.via.padEnd(7)} ${v.actor.comm}[${v.actor.tgid}] uid ${v.actor.euid} (${exe})  moving ${v.task.comm}[${v.task.pid}]  ${showPath(v.src.path, v.src.id)} → ${showPath(v.dst.path, v.dst.id)}  ${rule}`;
}

/** Every migration the flight recorder holds, as `what-if` replays them (tamper records are not migrations). */
export function replayRecords(state: PinnedState): ReplayRecord[] {
  const names = new CgroupNames();
  const now = bootNowMs();
  return readRecords(state)
    .map((r) => replayRecordOf(viewRecord(r, names, now)))
    .filter((r): r is ReplayRecord => r !== null);
}

/** A record as `what-if` replays it; null for a refused attempt on the seal (no migration). */
function replayRecordOf(v: RecordView): ReplayRecord | null {
  if (v.tamper) return null;
  const { actor } = v;
  return {
    seq: v.seq,
    verdict: v.verdict,
    via: v.via,
    src: v.src.path,
    dst: v.dst.path,
    actor: { tgid: actor.tgid, startTicks: actor.startTicks, euid: actor.euid, exe: actor.exe, cgroup: actor.cgroup, comm: actor.comm },
    task: { pid: v.task.pid, comm: v.task.comm },
  };
}

/**
 * One line of `audit --json` output (a RecordView as printJson wrote it:
 * large integers as strings) as a record to replay; a line that is not one
 * is a problem with the line's number.
 */
export function replayRecordOfJson(line: string, where: string): ReplayRecord | null {
  let v: any;
  try {
    v = JSON.parse(line);
  } catch {
    throw new CliError({ problem: `${where}: not JSON`, fix: `give records as 'cgwarden audit --json' writes them, one per line` });
  }
  const big = (x: unknown) => (typeof x === "number" || (typeof x === "string" && /^\d+$/.test(x)) ? BigInt(x) : null);
  const ok =
    v && typeof v === "object" && Number.isInteger(v.seq) && ["allowed", "denied", "audit"].includes(v.verdict) && typeof v.via === "string" &&
    v.actor && Number.isInteger(v.actor.tgid) && Number.isInteger(v.actor.euid) && big(v.actor.startTicks) !== null && v.actor.exe && big(v.actor.exe.dev) !== null && big(v.actor.exe.ino) !== null;
  if (!ok) throw new CliError(`${where}: not a record of 'cgwarden audit --json' (seq, verdict, via, actor with tgid, euid, startTicks and exe are needed)`);
  if (v.tamper) return null;
  const path = (x: unknown) => (typeof x === "string" && x.startsWith("/") ? x : null);
  return {
    seq: v.seq,
    verdict: v.verdict,
    via: v.via,
    src: path(v.src?.path),
    dst: path(v.dst?.path),
    actor: {
      tgid: v.actor.tgid,
      startTicks: big(v.actor.startTicks)!,
      euid: v.actor.euid,
      exe: { dev: big(v.actor.exe.dev)!, ino: big(v.actor.exe.ino)!, path: typeof v.actor.exe.path === "string" ? v.actor.exe.path : null },
      cgroup: path(v.actor.cgroup),
      comm: String(v.actor.comm ?? "?"),
    },
    task: { pid: Number(v.task?.pid ?? 0), comm: String(v.task?.comm ?? "?") },
  };
}
