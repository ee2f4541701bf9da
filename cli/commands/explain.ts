import { defineCommand } from "./_define.ts";
import { CliError, EXIT_DENIED, UsageError } from "../errors.ts";
import { print, printJson } from "../output.ts";
import { CgroupNames } from "../kernel/cgroupfs.ts";
import { bootNowMs, recordBySeq, viewRecord } from "../audit/records.ts";
import { PolicyStore } from "../pins/store.ts";
import { explainRequest, formatExplanation, type ExplainRequest } from "../policy/explain.ts";
import { withPolicyReader } from "../pins/session.ts";
import { Via, type ViaName } from "../object/abi.ts";
import { parseCount, parsePid } from "../policy/numbers.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";

const seqOf = (v: string) => parseCount(v, "--record takes a record number from 'cgwarden audit'");

export default defineCommand({
  meta: { name: "explain", description: "Explain the verdict the live policy gives a migration (exit 0 allow, 3 deny)" },
  args: {
    task: { type: "string", description: "Process (or thread, with --via threads) to move", valueHint: "PID" },
    to: { type: "string", description: "Destination cgroup", valueHint: "PATH" },
    actor: { type: "string", description: "Process that would do the move (default: the caller's parent, e.g. your shell)", valueHint: "PID" },
    via: { type: "string", description: "procs (default), threads or clone", options: ["procs", "threads", "clone"] },
    record: { type: "string", description: "Explain a record from 'cgwarden audit' instead", valueHint: "SEQ" },
    ...jsonArg,
    ...pinArgs,
  },
  run({ args }) {
    const { pinDir } = pinContext(args);
    const via = (args.via ?? "procs") as ViaName;
    if (args.record !== undefined && (args.task !== undefined || args.to !== undefined || args.actor !== undefined))
      throw new UsageError({ problem: "--record explains a recorded migration", fix: "it does not combine with --task, --to or --actor" });
    if (args.record === undefined && (args.to === undefined || (via !== "clone" && args.task === undefined)))
      throw new UsageError("give --task PID and --to PATH (or --via clone --to PATH), or --record SEQ");

    // Numbers are checked before anything is read, so a typo is a usage error whatever the state.
    if (args.record !== undefined) seqOf(args.record);
    if (args.task !== undefined) parsePid(args.task, "--task");
    if (args.actor !== undefined) parsePid(args.actor, "--actor");
    const names = new CgroupNames();
    const result = withPolicyReader(pinDir, (state) => {
      let req: ExplainRequest;
      if (args.record !== undefined) {
        const seq = seqOf(args.record);
        const record = recordBySeq(state, seq);
        if (!record) throw new CliError({ problem: `no record #${seq} in the flight recorder (old records are overwritten)`, fix: `see 'cgwarden audit' for the records it holds` });
        if (record.via === Via.tamper)
          throw new CliError(`record #${seq} is a refused attempt on the sealed policy, not a migration: no rule decided it, the seal did (see 'cgwarden audit' and 'cgwarden status')`);
        req = { record, exePath: viewRecord(record, names, bootNowMs()).actor.exe.path };
      } else {
        const actor = args.actor === undefined ? process.ppid : parsePid(args.actor, "--actor");
        req = { task: via === "clone" ? 0 : parsePid(args.task!, "--task"), to: args.to!, actor, via };
      }
      return explainRequest(req, { policy: new PolicyStore(state).livePolicy(), executedBy: (pid) => state.executedBy(pid) }, names);
    });
    if (!result) throw new CliError({ problem: `cgwarden is not loaded (pin directory ${pinDir})`, fix: `every migration is allowed by cgwarden` });
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
