// Types of suite.js for the TypeScript tests.
export declare const SUITE_VERSION: number;
export declare const LSTM_FIXTURES: string[];

export interface CheckResult {
  name: string;
  pass: boolean;
  /** FNV-1a of the output bits (null for checks without float output). */
  hash: string | null;
  details: Record<string, unknown> | null;
  error?: string;
  ms: number;
}

export interface SuiteResult {
  suite: number;
  runtime: string;
  simd: boolean;
  simdSupported: boolean;
  /** The GEMM micro-kernel the runtime chose for its engine. */
  gemmKernel: string;
  pass: boolean;
  checks: CheckResult[];
  ms: number;
  [extra: string]: unknown;
}

export declare class Hasher {
  h: number;
  words(a: Float32Array | Int32Array | Uint32Array): this;
  f32(x: number): this;
  bytes(u8: Uint8Array): this;
  hex(): string;
}
export declare function bitsHash(a: Float32Array): string;
export declare function randomData(n: number, seed: number): Float32Array;
export declare function runSuite(L: unknown, fixtures: Record<string, unknown>, options?: { scalarWasm?: unknown }): Promise<SuiteResult>;
