// The policy file's JSON Schema: the one definition of the format. validate.ts
// interprets it, `cgwarden schema` prints it, editors can check files with it.
// Change the format here and nowhere else; parse.ts reads its defaults and
// format.ts its key order from this object.
//
// Each rule of the path syntax is an allOf branch of its own, with a pattern
// a reader can check by eye; the branch's description is the fix an admin
// reads when that rule is broken, so it is phrased as advice. JSON Schema
// counts characters where the kernel counts UTF-8 bytes: maxLength is the
// character bound, and the format "cgwarden-cgroup-path", checked by
// parse.ts, adds the byte bounds.
//

import { MANAGERS, PID_MAX } from "../../object/abi.ts";
import { CONTROL_CHARACTERS } from "../paths.ts";
import { problemText } from "../../errors.ts";
import { GIVEN, GIVEN_NAMES, SAME_SELECTOR, givenTwice, type GivenName } from "../selectors.ts";

/** Longest cgroup path, in UTF-8 bytes: the kernel-side buffer is CGW_PATH_LEN (256). */
export const PATH_MAX_BYTES = 254;
/** Deepest cgroup a rule may name, in components below the root: CGW_MAX_LEVEL. */
export const PATH_MAX_DEPTH = 32;
/** Longest text before or after a template's `*`, in UTF-8 bytes: CGW_TEMPLATE_PART (64) less the NUL. */
export const TEMPLATE_PART_MAX_BYTES = 63;

/** Each way to give a selector, as a key of an allow or delegate entry (policy/selectors.ts). */
const selectorSchemas = Object.fromEntries(GIVEN_NAMES.map((n) => [n, { description: GIVEN[n].description, ...GIVEN[n].schema }])) as Record<GivenName, object>;

export const POLICY_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://cgwarden.dev/policy.schema.json",
  title: "cgwarden policy",
  description:
    "Who may move processes between cgroup v2 cgroups. Every section and key is optional; an empty file is the empty policy.",
  type: "object",
  additionalProperties: false,
  properties: {
    settings: {
      title: "settings",
      description: "Policy-wide settings.",
      type: "object",
      additionalProperties: false,
      properties: {
        mode: {
          description: "enforce: each lock in its own mode. audit: every lock only records the denials it would make.",
          enum: ["enforce", "audit"],
          default: "enforce",
        },
        record: {
          description: "denials: record denials and audit-mode denials. all: record every decision, allowed ones too.",
          enum: ["denials", "all"],
          default: "denials",
        },
      },
    },
    lock: {
      description: "Locks: each refuses the moves of its directions across or inside the subtree at its path.",
      type: "array",
      items: { $ref: "#/$defs/lock" },
    },
    allow: {
      description: "Allow rules: matching actors pass the lock at the same path, and no other lock.",
      type: "array",
      items: { $ref: "#/$defs/gate" },
    },
    delegate: {
      description:
        "Delegations: matching actors may move processes anywhere inside the subtree at the path, past locks there and above, not below.",
      type: "array",
      items: { $ref: "#/$defs/gate" },
    },
    seal: {
      title: "seal",
      description:
        "Seal the policy: only managers may then change, detach or unpin it. Without this section, applying the file lifts a seal (which only a manager can do).",
      type: "object",
      additionalProperties: false,
      properties: {
        managers: {
          description: "Managers by executable: any process that really executed one of these files (and cgwarden run by such a process).",
          type: "array",
          uniqueItems: true,
          maxItems: MANAGERS,
          items: {
            type: "string",
            allOf: [
              { description: "give the executable's absolute path, e.g. /usr/lib/systemd/systemd", pattern: "^/" },
              { description: "control characters (newline, tab, NUL...) cannot be part of the path", pattern: `^[^${CONTROL_CHARACTERS}]*$` },
            ],
          },
        },
        manager_pids: {
          description: "Managers by process: that running process only (matched by pid and start time when applied), such as 1 for PID 1.",
          type: "array",
          uniqueItems: true,
          maxItems: MANAGERS,
          items: { type: "integer", minimum: 1, maximum: PID_MAX },
        },
        until_reboot: { description: "No managers at all: nothing changes the policy until the next boot.", type: "boolean", default: false },
        lock_bpf: {
          description: "Also refuse new fentry, fexit, fmod_ret, LSM, freplace and kprobe-override BPF programs to everyone but managers.",
          type: "boolean",
          default: false,
        },
        key: {
          description:
            "A key seal, instead of managers: the X.509 certificate (PEM or DER) whose private key authorizes each change; a process changes the policy once the kernel verified its authorization (see cgwarden seal --key).",
          type: "string",
          allOf: [
            { description: "give the certificate's absolute path, e.g. /etc/cgwarden/seal.pem", pattern: "^/" },
            { description: "control characters (newline, tab, NUL...) cannot be part of the path", pattern: `^[^${CONTROL_CHARACTERS}]*$` },
          ],
        },
      },
      // until_reboot = true with managers, or false without, or a key with either, is refused when the file is applied (resolve.ts).
      anyOf: [{ required: ["managers"] }, { required: ["manager_pids"] }, { required: ["until_reboot"] }, { required: ["key"] }],
    },
  },
  $defs: {
    cgroupPath: {
      title: "cgroup path",
      description:
        "A cgroup path as seen from the cgroup2 mount, like /system.slice/foo.service. The last component may hold one '*' (prefix*suffix), matching cgroups by name, also ones created later; a '**' component before it matches at any depth (/system.slice/**/*.service), and below a cgroup it matched it no longer applies.",
      type: "string",
      format: "cgwarden-cgroup-path",
      maxLength: PATH_MAX_BYTES,
      // Ordered from the most basic rule: only the first broken one is reported.
      allOf: [
        { description: "a cgroup path starts with '/', e.g. /system.slice/foo.service", pattern: "^/" },
        {
          description: "control characters (newline, tab, NUL...) cannot be part of a cgroup path",
          pattern: `^[^${CONTROL_CHARACTERS}]*$`,
        },
        {
          description: "components are separated by one '/' and the path does not end in '/' (except '/' itself)",
          pattern: "^(/|(/[^/]+)+)$",
        },
        {
          description: `rules sit at most ${PATH_MAX_DEPTH} levels below the root`,
          pattern: `^(/[^/]*){0,${PATH_MAX_DEPTH}}$`,
        },
        {
          description: "'.' and '..' are not allowed as components; write the path they lead to",
          pattern: "^(?!.*/\\.\\.?(/|$))",
        },
        {
          description: "'*' may appear once, in the last component (prefix*suffix), and '**' once, as the whole component before it (/system.slice/**/*.service)",
          pattern: "^([^*]*|[^*]*(/\\*\\*)?/[^/*]*\\*[^/*]*)$",
        },
        {
          description: `the text before and after '*' is at most ${TEMPLATE_PART_MAX_BYTES} bytes each`,
          pattern: `^([^*]*|.*/[^/*]{0,${TEMPLATE_PART_MAX_BYTES}}\\*[^/*]{0,${TEMPLATE_PART_MAX_BYTES}})$`,
        },
      ],
    },
    lock: {
      title: "lock",
      description: "A lock on the subtree at a path.",
      type: "object",
      additionalProperties: false,
      required: ["path"],
      properties: {
        path: { $ref: "#/$defs/cgroupPath", description: "The locked subtree, this cgroup and every cgroup below it." },
        directions: {
          description:
            "The moves refused: in (from outside into the subtree), out (from the subtree to outside), within (between two cgroups of the subtree).",
          type: "array",
          minItems: 1,
          uniqueItems: true,
          items: { enum: ["in", "out", "within"] },
          default: ["in", "out", "within"],
        },
        mode: {
          description: "enforce: refuse and record. audit: let the move happen and record that it would have been refused.",
          enum: ["enforce", "audit"],
          default: "enforce",
        },
      },
    },
    gate: {
      title: "rule",
      description: "An actor the rule applies to: every selector given must match; separate rules are alternatives.",
      type: "object",
      additionalProperties: false,
      required: ["path"],
      properties: {
        path: { $ref: "#/$defs/cgroupPath", description: "The cgroup (or template) the rule is bound to." },
        ...selectorSchemas,
      },
      allOf: [
        {
          description: "A rule names its actor with at least one selector.",
          anyOf: GIVEN_NAMES.map((k) => ({ required: [k] })),
        },
        ...SAME_SELECTOR.map((names) => ({
          description: `${problemText(givenTwice(names, GIVEN[names[0]!].selector))}.`,
          not: { required: names },
        })),
      ],
    },
  },
} as const;
