// Numbers from the command line. Each is checked for form and range before
// anything is read or changed, so a typo is a usage error whatever the state:
// Number() alone would take "1e3", "0x10", " 5" and values the maps cannot hold.
import { UsageError, shown } from "../errors.ts";
import { PID_MAX, UID_MAX } from "../object/abi.ts";
import { MAX_CAPACITY } from "../object/configure.ts";

const WHOLE = /^[1-9][0-9]*$/;

function whole(text: string, max: number, problem: string): number {
  if (!WHOLE.test(text) || Number(text) > max) throw new UsageError(`${problem}, not '${shown(text)}'`);
  return Number(text);
}

/** Rule ids are u32 in the maps, and 0 is never given out. */
export const MAX_RULE_ID = 0xffffffff;

export function parseRuleId(text: string, what = "rule id"): number {
  return whole(text, MAX_RULE_ID, `${what} must be a positive number from 1 to ${MAX_RULE_ID} (see 'cgwarden rules')`);
}


export function parseCapacity(text: string | undefined, flag: string): number | undefined {
  return text === undefined ? undefined : whole(text, MAX_CAPACITY, `${flag} takes a whole number from 1 to ${MAX_CAPACITY}`);
}

export function parsePid(text: string, flag: string): number {
  return whole(text, PID_MAX, `${flag} takes a process id from 1 to ${PID_MAX}`);
}

/** Record sequence numbers and counts: anything a double holds exactly. */
export function parseCount(text: string, problem: string): number {
  return whole(text, Number.MAX_SAFE_INTEGER, problem);
}

/** uids as selectors: 0 to UID_MAX, written without leading zeros. */
export function parseUid(text: string, flag = "--uid"): number {
  if (text === "0") return 0;
  return whole(text, UID_MAX, `${flag} takes a numeric uid from 0 to ${UID_MAX}`);
}
