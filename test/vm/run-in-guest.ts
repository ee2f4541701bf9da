#!/usr/bin/env bun
// For humans: run one command in a test guest and exit with its status.
//   bun test/vm/run-in-guest.ts --kernel debian-6.12 [--timeout 300] [--memory 1024]
//       [--cwd DIR] [--env K=V ...] [--append KERNEL_ARG ...] [--console] -- sh -c 'uname -r'

import { runInGuest } from "./guest.ts";
import { ensureKernel, isKernelName, KERNEL_NAMES, type KernelName } from "./kernels.ts";

const USAGE = `usage: bun test/vm/run-in-guest.ts --kernel <${KERNEL_NAMES.join("|")}> [--timeout SECONDS] [--memory MiB]
       [--cwd DIR] [--env KEY=VALUE]... [--append KERNEL_ARG]... [--console] -- COMMAND [ARG]...`;

interface Args {
  kernel: KernelName;
  timeoutSec: number;
  memoryMiB: number;
  cwd?: string;
  env: Record<string, string>;
  kernelArgs: string[];
  showConsole: boolean;
  argv: string[];
}

function usage(msg?: string): never {
  if (msg) process.stderr.write(`run-in-guest: ${msg}\n`);
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}

function parseArgs(args: string[]): Args {
  let kernel: KernelName | undefined;
  let timeoutSec = 300;
  let memoryMiB = 1024;
  let cwd: string | undefined;
  const env: Record<string, string> = {};
  const kernelArgs: string[] = [];
  let showConsole = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === "--") return finish(args.slice(i + 1));
    else if (a === "--kernel") {
      const k = value();
      if (!isKernelName(k)) usage(`unknown kernel ${k}`);
      kernel = k;
    } else if (a === "--timeout") timeoutSec = Number(value());
    else if (a === "--memory") memoryMiB = Number(value());
    else if (a === "--cwd") cwd = value();
    else if (a === "--env") {
      const kv = value();
      const eq = kv.indexOf("=");
      if (eq <= 0) usage(`--env wants KEY=VALUE, got ${kv}`);
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (a === "--append") kernelArgs.push(value());
    else if (a === "--console") showConsole = true;
    else if (a === "-h" || a === "--help") usage();
    else usage(`unexpected argument ${a} (put the command after --)`);
  }
  return finish([]);

  function finish(argv: string[]): Args {
    if (!kernel) usage("--kernel is required");
    if (argv.length === 0) usage("no command given after --");
    if (!(timeoutSec > 0)) usage("--timeout must be a positive number of seconds");
    if (!(memoryMiB >= 256)) usage("--memory must be at least 256 (MiB)");
    return { kernel, timeoutSec, memoryMiB, cwd, env, kernelArgs, showConsole, argv };
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  try {
    const kernel = await ensureKernel(args.kernel);
    process.stderr.write(`[vm] ${kernel.name}: ${kernel.description}\n`);
    const r = await runInGuest({
      kernel,
      argv: args.argv,
      cwd: args.cwd,
      env: args.env,
      timeoutMs: args.timeoutSec * 1000,
      memoryMiB: args.memoryMiB,
      kernelArgs: args.kernelArgs,
      onOutput: (chunk) => process.stdout.write(chunk),
    });
    if (args.showConsole) process.stderr.write(`--- guest console (tail) ---\n${r.consoleTail}\n`);
    process.stderr.write(
      `[vm] exit ${r.exitCode}; boot ${(r.bootMs / 1000).toFixed(1)} s, total ${(r.durationMs / 1000).toFixed(1)} s\n`,
    );
    return r.exitCode;
  } catch (e) {
    process.stderr.write(`[vm] ${(e as Error).message}\n`);
    return 125; // like `env`/`timeout`: the harness failed, not the command
  }
}

process.exit(await main());
