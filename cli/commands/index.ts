// The command registry: every subcommand, loaded only when it runs. Each
// module's `default` is its citty definition and `examples` what --help,
// the man page and nothing else show.
export const commandModules = {
  check: () => import("./check.ts"),
  load: () => import("./load.ts"),
  status: () => import("./status.ts"),
  unload: () => import("./unload.ts"),
  lock: () => import("./lock.ts"),
  unlock: () => import("./unlock.ts"),
  allow: () => import("./allow.ts"),
  delegate: () => import("./delegate.ts"),
  apply: () => import("./apply.ts"),
  export: () => import("./export.ts"),
  schema: () => import("./schema.ts"),
  rules: () => import("./rules.ts"),
  remove: () => import("./remove.ts"),
  mode: () => import("./mode.ts"),
  audit: () => import("./audit.ts"),
  explain: () => import("./explain.ts"),
  "what-if": () => import("./what-if.ts"),
  tree: () => import("./tree.ts"),
  recording: () => import("./recording.ts"),
  seal: () => import("./seal.ts"),
  unseal: () => import("./unseal.ts"),
  "install-files": () => import("./install-files.ts"),
  completion: () => import("./completion.ts"),
} as const;

export type CommandName = keyof typeof commandModules;
