// A policy command's access to the pinned state: serialised, and loading
// cgwarden first when it is not loaded yet.
import { note } from "../output.ts";
import { CliError } from "../errors.ts";
import { loadWarden } from "./load.ts";
import { withWriterLock } from "./serialize.ts";
import { openState, type PinnedState } from "./state.ts";

export async function withPolicyWriter<T>(pinDir: string, fn: (state: PinnedState) => T): Promise<T> {
  return withWriterLock(pinDir, async () => {
    let state = openState(pinDir);
    if (!state) {
      const r = await loadWarden(pinDir);
      note(`cgwarden was not loaded; loaded it (${r.mechanism.name} mechanism) at ${pinDir}`);
      state = openState(pinDir);
      if (!state) throw new CliError(`loaded cgwarden but cannot open its pins at ${pinDir}`);
    }
    try {
      return fn(state);
    } finally {
      state.close();
    }
  });
}

/** Read-only access; null when cgwarden is not loaded. */
export function withPolicyReader<T>(pinDir: string, fn: (state: PinnedState) => T): T | null {
  const state = openState(pinDir);
  if (!state) return null;
  try {
    return fn(state);
  } finally {
    state.close();
  }
}
