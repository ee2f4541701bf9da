// The policy on the live cgroup tree: what binds each cgroup (its own path,
// which template), its locks and gates, recent denials, and the cgroups a
// template's name pattern would suggest are covered but are not. Pure: the
// command gathers the tree, the live policy and the records.
import { nodesOf, type Policy } from "./model.ts";
import { directionNames } from "../object/abi.ts";
import { baseName, parseRulePath, templateMatches, type Template } from "./paths.ts";

export interface TreeRow {
  path: string;
  id: bigint;
  /** Levels below the tree's top. */
  depth: number;
  /** What binds the cgroup: its own path's node and its template's, by path. */
  boundBy: { path: string | null; template: string | null };
  locks: Array<{ rule: number; from: string; directions: string[]; mode: string }>;
  allow: number[];
  delegate: number[];
  /** Denials recorded with this cgroup as src or dst, in the flight recorder. */
  denials: number;
  /** Set when no lock holds the cgroup or an ancestor, yet a template's name pattern matches it. */
  uncovered: string | null;
  pids?: number[];
}

export interface TreeInput {
  cgroups: Array<{ path: string; id: bigint }>;
  policy: Policy;
  /** Denials by cgroup id. */
  denials: Map<bigint, number>;
  pids?: (path: string) => number[];
}

export function policyTree({ cgroups, policy, denials, pids }: TreeInput): TreeRow[] {
  const pathOf = (node: bigint) => policy.nodePaths?.get(node) ?? `node ${node}`;
  const templates: Array<[string, Template]> = [...new Set(policy.nodePaths?.values() ?? [])]
    .map((p) => [p, parseRulePath(p).template] as const)
    .filter((x): x is [string, Template] => !!x[1]);
  const top = cgroups[0]?.path ?? "/";
  const topDepth = top === "/" ? 0 : top.split("/").length - 1;
  // Whether a cgroup or an ancestor carries a lock: the tree is in preorder, so ancestors come first.
  const held = new Map<string, boolean>();
  const parentOf = (p: string) => (p.lastIndexOf("/") <= 0 ? "/" : p.slice(0, p.lastIndexOf("/")));
  return cgroups.map(({ path, id }) => {
    const b = policy.bound.get(id);
    const nodes = nodesOf(policy, id);
    const locks = nodes.flatMap((n) => {
      const l = policy.locks.get(n);
      return l ? [{ rule: l.id, from: pathOf(n), directions: directionNames(l.directions), mode: policy.globalMode === "audit" ? "audit" : l.mode }] : [];
    });
    const gates = (kind: "allow" | "delegate") => policy.gates.filter((g) => g.kind === kind && nodes.includes(g.anchor)).map((g) => g.id).sort((x, y) => x - y);
    const isHeld = locks.length > 0 || (path !== "/" && (held.get(parentOf(path)) ?? false));
    held.set(path, isHeld);
    const named = path === "/" ? undefined : templates.find(([, t]) => templateMatches(t, baseName(path)));
    const row: TreeRow = {
      path,
      id,
      depth: (path === "/" ? 0 : path.split("/").length - 1) - topDepth,
      boundBy: { path: b?.exact ? pathOf(b.exact) : null, template: b?.matched ? pathOf(b.matched) : null },
      locks,
      allow: gates("allow"),
      delegate: gates("delegate"),
      denials: denials.get(id) ?? 0,
      uncovered: !isHeld && named ? named[0] : null,
    };
    if (pids) row.pids = pids(path);
    return row;
  });
}

/** systemd-cgls's drawing, with each cgroup's policy after its name. */
export function formatTree(rows: TreeRow[], comm: (pid: number) => string = () => ""): string[] {
  const lines: string[] = [];
  // Whether each row is its parent's last child: backwards, a row at depth d sees later siblings until a shallower row.
  const last: boolean[] = new Array(rows.length).fill(true);
  const seen: boolean[] = [];
  for (let i = rows.length - 1; i >= 0; i--) {
    const d = rows[i]!.depth;
    last[i] = !seen[d];
    seen[d] = true;
    seen.length = d + 1;
  }
  const open: boolean[] = [];
  rows.forEach((r, i) => {
    open.length = r.depth;
    const prefix = r.depth === 0 ? "" : `${open.slice(1).map((o) => (o ? "│ " : "  ")).join("")}${last[i] ? "└─" : "├─"}`;
    open[r.depth] = !last[i];
    const notes = [
      ...r.locks.map((l) => `lock ${l.directions.join(",")}${l.mode === "audit" ? " (audit)" : ""} #${l.rule} ${l.from}`),
      ...(r.allow.length ? [`allow ${r.allow.map((x) => `#${x}`).join(" ")}`] : []),
      ...(r.delegate.length ? [`delegate ${r.delegate.map((x) => `#${x}`).join(" ")}`] : []),
      ...(r.denials ? [`${r.denials} denied`] : []),
      ...(r.uncovered ? [`! uncovered: named like ${r.uncovered}, which does not bind it`] : []),
    ];
    const name = r.depth === 0 ? r.path : r.path.slice(r.path.lastIndexOf("/") + 1);
    lines.push(`${prefix}${name}${notes.length ? `  [${notes.join("] [")}]` : ""}`);
    for (const pid of r.pids ?? []) lines.push(`${open.slice(1).map((o) => (o ? "│ " : "  ")).join("")}${open[r.depth] ? "│ " : "  "}  ${pid} ${comm(pid)}`.trimEnd());
  });
  return lines;
}
