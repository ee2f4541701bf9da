import { defineCommand } from "./_define.ts";
import { parseCapacity } from "../policy/numbers.ts";
import { print, printJson } from "../output.ts";
import { loadWarden } from "../pins/load.ts";
import { DEFAULT_CAPACITIES } from "../object/configure.ts";
import { withWriterLock } from "../pins/serialize.ts";
import { jsonArg, pinArgs, pinContext } from "./_shared.ts";

export default defineCommand({
  meta: { name: "load", description: "Load and attach cgwarden's programs and pin them (a no-op when loaded)" },
  args: {
    ...jsonArg,
    ...pinArgs,
    "max-locks": { type: "string", description: `Capacity for locks (default ${DEFAULT_CAPACITIES.locks})` },
    "max-rules": { type: "string", description: `Capacity for allow and delegate rules (default ${DEFAULT_CAPACITIES.gateRules})` },
    records: { type: "string", description: `Decision records the flight recorder keeps (default ${DEFAULT_CAPACITIES.records})` },
  },
  async run({ args }) {
    const { pinDir } = pinContext(args);
    const caps = {
      locks: parseCapacity(args["max-locks"], "--max-locks") ?? DEFAULT_CAPACITIES.locks,
      gateRules: parseCapacity(args["max-rules"], "--max-rules") ?? DEFAULT_CAPACITIES.gateRules,
      records: parseCapacity(args.records, "--records") ?? DEFAULT_CAPACITIES.records,
    };
    const r = await withWriterLock(pinDir, () => loadWarden(pinDir, caps));
    if (args.json) printJson({ loaded: true, changed: !r.alreadyLoaded, mechanism: r.mechanism.name, pinDir });
    else if (r.alreadyLoaded) print(`cgwarden is already loaded (${r.mechanism.name} mechanism) at ${pinDir}; nothing to do`);
    else print(`loaded cgwarden (${r.mechanism.name} mechanism: ${r.mechanism.describe}); pinned at ${pinDir}`);
  },
});

export const examples = [
  "cgwarden load",
  "cgwarden load --max-locks 16384 --records 65536",
];
