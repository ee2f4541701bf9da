// `tree` in the pure model: what binds each cgroup, locks and gates, and the
// cgroups a template's pattern suggests are covered but are not (the getty gap).
import { describe, expect, test } from "bun:test";
import { Direction } from "../../cli/object/abi.ts";
import { compile, modelPolicy } from "../../cli/policy/compile.ts";
import { formatTree, policyTree } from "../../cli/policy/tree.ts";
import type { IdentifiedRule, RuleSpec } from "../../cli/policy/spec.ts";

const ids = (rules: RuleSpec[]): IdentifiedRule[] => rules.map((spec, i) => ({ id: i + 1, spec }));
const paths = ["/", "/system.slice", "/system.slice/cron.service", "/system.slice/system-getty.slice", "/system.slice/system-getty.slice/getty@tty1.service", "/system.slice/podman.service", "/system.slice/podman.service/inner.service", "/user.slice"];
const cgroups = paths.map((path, i) => ({ path, id: BigInt(i + 1) }));

function rowsFor(rules: RuleSpec[]) {
  const r = ids(rules);
  const c = compile(r, 0);
  return policyTree({ cgroups, policy: modelPolicy(c, r, "enforce", cgroups), denials: new Map([[5n, 2]]) });
}

describe("tree", () => {
  test("a single-level template leaves the getty instance uncovered, and says so", () => {
    const rows = rowsFor([{ kind: "lock", path: "/system.slice/*.service", directions: Direction.out, mode: "enforce" }]);
    const getty = rows.find((r) => r.path.endsWith("getty@tty1.service"))!;
    expect(getty).toMatchObject({ locks: [], uncovered: "/system.slice/*.service", denials: 2, depth: 3 });
    expect(rows.find((r) => r.path === "/system.slice/cron.service")).toMatchObject({ boundBy: { path: null, template: "/system.slice/*.service" }, locks: [{ rule: 1, directions: ["out"], mode: "enforce" }], uncovered: null });
    // Inside a held service: held by the service's lock, not flagged.
    expect(rows.find((r) => r.path.endsWith("inner.service"))!.uncovered).toBeNull();
  });

  test("the recursive template covers it; the drawing is systemd-cgls's, with the policy after each name", () => {
    const rows = rowsFor([
      { kind: "lock", path: "/system.slice/**/*.service", directions: Direction.out, mode: "enforce" },
      { kind: "allow", path: "/system.slice/cron.service", selectors: { uid: 0 } },
    ]);
    expect(rows.filter((r) => r.uncovered)).toEqual([]);
    expect(formatTree(rows)).toEqual([
      "/",
      "├─system.slice",
      "│ ├─cron.service  [lock out #1 /system.slice/**/*.service] [allow #2]",
      "│ ├─system-getty.slice",
      "│ │ └─getty@tty1.service  [lock out #1 /system.slice/**/*.service] [2 denied]",
      "│ └─podman.service  [lock out #1 /system.slice/**/*.service]",
      "│   └─inner.service",
      "└─user.slice",
    ]);
  });
});
