// Types of runners.mjs for the TypeScript tests.
import type { SuiteResult } from './suite.js';

export type RunnerOutcome = { ok: true; ms: number; result: SuiteResult } | { ok: false; ms: number; error: string };
export declare const ROOT: string;
export declare const CHROMIUM_ARGS: string[];
export declare const RUNTIMES: string[];
export declare function binary(name: 'deno' | 'bun' | 'workerd' | 'chromium'): string;
export declare function checkDist(): void;
export declare function prepareConsumer(pkgDir?: string): string;
export declare function exec(cmd: string, args: string[], options?: { cwd?: string; env?: Record<string, string>; timeout?: number }): Promise<{ code: number | string; stdout: string; stderr: string; ms: number }>;
export declare function workerdEntry(consumer: string): { resolved: string; imports: string[] };
export declare function runAll(names?: string[]): Promise<Record<string, RunnerOutcome>>;
