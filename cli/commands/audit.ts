import { defineCommand } from "./_define.ts";
import { CliError, UsageError } from "../errors.ts";
import { print, printJson, note } from "../output.ts";
import { CgroupNames } from "../kernel/cgroupfs.ts";
import { BpfError, Errno, MapFd, RingBuffer } from "../libbpf/index.ts";
import { RecordLayout } from "../object/abi.ts";
import { pinPaths } from "../pins/paths.ts";
import { openState, sealedError, type PinnedState } from "../pins/state.ts";
import { bootNowMs, formatRecord, headSeq, matches, parseDuration, pinnedMapNames, readRecords, recordBySeq, viewRecord, type RecordFilter, type VerdictFilter } from "../audit/records.ts";
import { parseCount, parseRuleId } from "../policy/numbers.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";

export default defineCommand({
  meta: { name: "audit", description: "Show recorded decisions: denials, audit-mode denials, and, after 'cgwarden recording all', every decision" },
  args: {
    follow: { type: "boolean", alias: "f", description: "Stream new records as they happen, until interrupted" },
    since: { type: "string", description: "Only records newer than this (30s, 10m, 2h, 1d)", valueHint: "DURATION" },
    verdict: { type: "string", description: "denied, audit or all (default all)", options: ["denied", "audit", "all"] },
    rule: { type: "string", description: "Only records decided by this rule", valueHint: "RULE_ID" },
    limit: { type: "string", description: "With --follow: stop after this many records", valueHint: "N" },
    ...jsonArg,
    ...pinArgs,
  },
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const verdict = (args.verdict ?? "all") as VerdictFilter;
    if (args.rule !== undefined) parseRuleId(args.rule, "--rule");
    if (args.limit !== undefined && !args.follow) throw new UsageError({ problem: "--limit goes with --follow", fix: "without it, audit shows every matching record" });
    const limit = args.limit === undefined ? Infinity : parseCount(args.limit, "--limit takes a positive whole number");
    const filter: RecordFilter = {
      verdict,
      ruleId: args.rule === undefined ? undefined : Number(args.rule),
      sinceMs: args.since === undefined ? undefined : parseDuration(args.since),
    };
    const state = openState(pinDir);
    if (!state) {
      if (args.json) return;
      return print(`cgwarden is not loaded (pin directory ${pinDir}); no records`);
    }
    const names = new CgroupNames();
    const emit = (r: ReturnType<typeof viewRecord>) => (args.json ? printJson(r) : print(formatRecord(r)));
    const mapNames = pinnedMapNames(state);
    try {
      if (!args.follow) {
        const now = bootNowMs();
        const shown = readRecords(state).filter((r) => matches(r, filter, now));
        for (const r of shown) emit(viewRecord(r, names, now, mapNames));
        if (!shown.length && !args.json) print("no records match (denials and audit-mode denials are recorded; 'cgwarden mode' and rules change what happens)");
        return;
      }
      const events = openEventsForFollowing(state);
      try {
        await follow(events.fd, headSeq(state), filter, limit, (r) => emit(viewRecord(r, names, bootNowMs(), mapNames)), (seq) => recordBySeq(state, seq));
      } finally {
        events.close();
      }
    } finally {
      state.close();
    }
  },
});

/** A ring buffer's reader writes its position into the map: following takes a writable fd, which a sealed policy gives managers only. */
function openEventsForFollowing(state: PinnedState): MapFd {
  try {
    const m = MapFd.openPinned(pinPaths(state.pinDir).map("events"));
    if (!m) throw new CliError({ problem: `map events is missing from ${state.pinDir}`, fix: `see 'cgwarden status'` });
    return m;
  } catch (e) {
    if (e instanceof BpfError && e.errno === Errno.EPERM && state.seal().sealed)
      throw sealedError(state.pinDir, state.seal(), "follow live records (a ring buffer reader needs a writable fd); 'cgwarden audit' without --follow reads the flight recorder");
    throw e;
  }
}

type Record = ReturnType<typeof RecordLayout.decode>;

/**
 * Streams records newer than `after` until interrupted or `limit` have been
 * shown. A burst can fill the ring buffer: records it dropped are taken
 * from the flight recorder (`recorded`), in order, while it still holds
 * them; what neither holds any more is counted and said, never skipped
 * silently (a capture for what-if must know it is incomplete).
 */
async function follow(fd: number, after: bigint, filter: RecordFilter, limit: number, show: (r: Record) => void, recorded: (seq: number) => Record | null): Promise<void> {
  let shown = 0;
  let stop = false;
  let next = after + 1n;
  let lost = 0;
  const take = (r: Record) => {
    if (shown >= limit || !matches(r, filter, bootNowMs())) return;
    show(r);
    shown++;
  };
  const onSignal = () => {
    stop = true;
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const ring = new RingBuffer(fd, (data) => {
    const r = RecordLayout.decode(data);
    // Records from before we started may still sit in the buffer when nobody was following.
    if (r.seq < next) return;
    for (; next < r.seq; next++) {
      const missed = recorded(Number(next));
      if (missed) take(missed);
      else lost++;
    }
    next = r.seq + 1n;
    take(r);
  });
  note("following decisions; interrupt to stop");
  try {
    while (!stop && shown < limit) {
      ring.poll(100);
      await Bun.sleep(0); // let signals and output through
    }
  } finally {
    if (lost) note(`${lost} records were lost: the ring buffer and the flight recorder both overflowed (load with a larger --records)`);
    ring.close();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

export const examples = [
  "cgwarden audit --since 10m --verdict denied",
  "cgwarden audit --follow --json",
  "cgwarden audit --rule 12 --limit 20",
];
