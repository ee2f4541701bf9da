// A policy command's access to the pinned state, serialised. Commands that
// add policy (lock, allow, delegate) load cgwarden when it is not loaded yet;
// the others must not: removing or switching something that is not there
// has nothing to act on, and loading as a side effect would attach programs
// the admin never asked for.
import { note } from "../output.ts";
import { CliError } from "../errors.ts";
import { loadWarden } from "./load.ts";
import { withWriterLock } from "./serialize.ts";
import { openState, type PinnedState } from "./state.ts";
import { authorizeIfKeySealed } from "./authorize.ts";

export async function withPolicyWriter<T>(pinDir: string, fn: (state: PinnedState) => T | Promise<T>): Promise<T> {
  return withWriterLock(pinDir, async () => {
    authorizeIfKeySealed(pinDir);
    let state = openState(pinDir, "write");
    if (!state) {
      const r = await loadWarden(pinDir);
      note(`cgwarden was not loaded; loaded it (${r.mechanism.name} mechanism) at ${pinDir}`);
      state = openState(pinDir, "write");
      if (!state) throw new CliError(`loaded cgwarden but cannot open its pins at ${pinDir}`);
    }
    try {
      return await fn(state);
    } finally {
      state.close();
    }
  });
}

/** Like withPolicyWriter, but null when cgwarden is not loaded: it never loads it. */
export async function withLoadedPolicyWriter<T>(pinDir: string, fn: (state: PinnedState) => T | Promise<T>): Promise<T | null> {
  return withWriterLock(pinDir, async () => {
    authorizeIfKeySealed(pinDir);
    const state = openState(pinDir, "write");
    if (!state) return null;
    try {
      return await fn(state);
    } finally {
      state.close();
    }
  });
}

/** The error for commands that only make sense once cgwarden is loaded. */
export function notLoaded(pinDir: string): CliError {
  return new CliError({ problem: `cgwarden is not loaded (pin directory ${pinDir})`, fix: `load it first with 'cgwarden load'` });
}

/** The open state for the length of `fn`; null when cgwarden is not loaded. Takes no lock. */
export function withPolicyReader<T>(pinDir: string, fn: (state: PinnedState) => T): T | null {
  const state = openState(pinDir, "read");
  if (!state) return null;
  try {
    return fn(state);
  } finally {
    state.close();
  }
}
