import { defineCommand } from "citty";
import { CliError, EXIT_DENIED, UsageError } from "../errors.ts";
import { print, printJson } from "../output.ts";
import { CgroupNames, ancestorChain, cgroupOfPid, resolveCgroup, threadCgroups } from "../kernel/cgroupfs.ts";
import { bootNowMs, readRecords, viewRecord } from "../audit/records.ts";
import { PolicyStore } from "../policy/store.ts";
import { actorFromPid, explain, formatExplanation, inputFromRecord, type ExplainInput } from "../policy/explain.ts";
import { withPolicyReader } from "../pins/session.ts";
import type { ViaName } from "../policy/abi.ts";
import { parseCount, parsePid } from "./_numbers.ts";
import { jsonArg, pinArgs, pinContext, strictArgs } from "./_shared.ts";

const seqOf = (v: string) => parseCount(v, "--record takes a record number from 'cgwarden audit'");

export default defineCommand({
  meta: { name: "explain", description: "Explain the verdict the live policy gives a migration (exit 0 allow, 3 deny)" },
  args: {
    task: { type: "string", description: "Process (or thread, with --via threads) to move", valueHint: "PID" },
    to: { type: "string", description: "Destination cgroup", valueHint: "PATH" },
    actor: { type: "string", description: "Process that would do the move (default: the caller's parent, e.g. your shell)", valueHint: "PID" },
    via: { type: "string", description: "procs (default), threads or clone", valueHint: "procs|threads|clone" },
    record: { type: "string", description: "Explain a record from 'cgwarden audit' instead", valueHint: "SEQ" },
    ...jsonArg,
    ...pinArgs,
  },
  plugins: [strictArgs],
  run({ args }) {
    const { pinDir } = pinContext(args);
    const via = (args.via ?? "procs") as ViaName;
    if (!["procs", "threads", "clone"].includes(via)) throw new UsageError(`--via takes procs, threads or clone, not '${JSON.stringify(args.via).slice(1, -1)}'`);
    if (args.record !== undefined && (args.task !== undefined || args.to !== undefined || args.actor !== undefined))
      throw new UsageError("--record explains a recorded migration; it does not combine with --task, --to or --actor");
    if (args.record === undefined && (args.to === undefined || (via !== "clone" && args.task === undefined)))
      throw new UsageError("give --task PID and --to PATH (or --via clone --to PATH), or --record SEQ");

    // Numbers are checked before anything is read, so a typo is a usage error whatever the state.
    if (args.record !== undefined) seqOf(args.record);
    if (args.task !== undefined) parsePid(args.task, "--task");
    if (args.actor !== undefined) parsePid(args.actor, "--actor");
    const names = new CgroupNames();
    const result = withPolicyReader(pinDir, (state) => {
      let input: ExplainInput;
      if (args.record !== undefined) {
        const seq = seqOf(args.record);
        const rec = readRecords(state).find((r) => Number(r.seq) === seq);
        if (!rec) throw new CliError(`no record #${seq} in the flight recorder (see 'cgwarden audit'; old records are overwritten)`);
        const view = viewRecord(rec, names, bootNowMs());
        input = inputFromRecord(rec, names, view.actor.exe.path);
      } else {
        const actorPid = args.actor === undefined ? process.ppid : parsePid(args.actor, "--actor");
        const a = actorFromPid(actorPid, state.executedBy(actorPid));
        const dstRef = resolveCgroup(args.to!, "--to");
        const task = via === "clone" ? 0 : parsePid(args.task!, "--task");
        const src = via === "clone" ? a.actor.cgroupChain : ancestorChain(cgroupOfPid(task));
        // A whole process moves with all its threads, and the kernel judges each one's cgroup.
        const threadSrcs = via === "procs" ? threadCgroups(task).map(ancestorChain) : [];
        input = { actor: a.actor, actorLabel: a.label, exePath: a.exePath, src, dst: ancestorChain(dstRef), via, threadSrcs };
      }
      return explain(new PolicyStore(state).livePolicy(), input, names);
    });
    if (!result) throw new CliError(`cgwarden is not loaded (pin directory ${pinDir}); every migration is allowed by cgwarden`);
    if (args.json) printJson(result);
    else for (const line of formatExplanation(result)) print(line);
    return { exitCode: result.verdict === "deny" ? EXIT_DENIED : 0 };
  },
});

export const examples = [
  "cgwarden explain --task 4242 --to /user.slice",
  "cgwarden explain --record 17",
  "cgwarden explain --via clone --to /system.slice/foo.service --actor 1",
];
