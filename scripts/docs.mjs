// Documentation tooling for lstm-wasm.
//
//   node scripts/docs.mjs                 API reference: docs/api/ (markdown) from the TSDoc comments
//   node scripts/docs.mjs --strict        also list every exported item without a doc comment
//   node scripts/docs.mjs --check [md..]  run the code of the pages (default: every .md under docs/
//                                         except docs/api/) against the built package (run
//                                         `npm run build` first); --keep keeps the temporary folders
//
// This file is also the TypeDoc plugin named in typedoc.json (TypeDoc calls `load`), so plain
// `npx typedoc` writes the same output. The plugin names each entry point by its import specifier
// (src/node.ts is `lstm-wasm/node`) unless the file names itself with `@module`, and it uses a
// file's leading comment as the module's description when that comment has no `@module` or
// `@packageDocumentation` tag.
//
// Checked pages. A fenced code block preceded by a marker comment is executed, in the order of
// the page, in a fresh temporary folder whose node_modules/lstm-wasm is a symlink to this
// repository (and node_modules/.bin/lstm-wasm runs its CLI):
//
//   <!-- check: node NAME.mjs -->     write the next block to NAME.mjs and run it with node
//   <!-- check: python NAME.py -->    write it and run it with $PYTHON (default /usr/bin/python3)
//   <!-- check: sh -->                run it with bash -e (PATH starts with node_modules/.bin)
//   <!-- check: file NAME -->         only write it (an HTML page, a config file, ...)
//
// A marker may also carry the code itself, hidden from readers, on the lines after the marker
// (`<!-- check: node verify.mjs` + newline + code + `-->`). Hidden steps verify what a reader
// cannot run from the page alone: they start workerd, drive Chromium, compare numbers.
// Hidden code gets LSTM_WASM_ROOT (this repository) in its environment. A non-zero exit fails
// the check, with the step's output.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const MODULE_NAMES = {
  'index.ts': 'lstm-wasm',
  'node.ts': 'lstm-wasm/node',
  'inline.ts': 'lstm-wasm/inline',
  'workerd.ts': 'workerd',
};

/**
 * Sections of the API reference (their order is `categoryOrder` in typedoc.json). A declaration's
 * own `@category` tag wins; anything exported that is not listed here lands in "Other".
 */
const CATEGORIES = {
  Runtime: ['ready', 'runtime', 'createRuntime', 'simdSupported', 'Runtime', 'ReadyOptions', 'WasmSource', 'CoreExports'],
  Tensors: ['Tensor', 'TensorLike', 'checkTensor', 'IdsLike', 'StateDict'],
  Layers: ['LSTM', 'LSTMOptions', 'LSTMConfig', 'LSTMForwardOptions', 'LSTMForwardResult', 'LSTMBackwardOptions', 'LSTMBackwardResult', 'LSTMState', 'lstmParamShapes', 'Dense', 'DenseOptions', 'DenseBackwardResult', 'Embedding', 'EmbeddingOptions', 'Dropout', 'DropoutOptions'],
  'Models and training': ['Sequential', 'CompileOptions', 'LossName', 'TargetLike', 'ModelInput', 'BatchOptions', 'FitOptions', 'Logs', 'History', 'TrainingState'],
  Callbacks: ['Callback', 'EarlyStopping', 'EarlyStoppingOptions', 'ModelCheckpoint', 'ModelCheckpointOptions', 'checkpointToFile'],
  Optimizers: ['Optimizer', 'SGD', 'RMSprop', 'Adam', 'AdamW', 'Adagrad', 'makeOptimizer', 'OptimizerType', 'SGDOptions', 'RMSpropOptions', 'AdamOptions', 'AdagradOptions', 'ClipOptions'],
  'Learning-rate schedules': ['LRSchedule', 'StepLR', 'ExponentialLR', 'CosineLR', 'ReduceLROnPlateau'],
  'Model files': ['serializeModel', 'deserializeModel', 'FORMAT_VERSION', 'SerializeOptions', 'LoadedModel', 'saveModel', 'loadModel', 'writeFileAtomic'],
  Errors: ['ShapeError', 'CoreError', 'DisposedError'],
  'Layer plumbing': ['ChainLayer', 'ForwardContext', 'ParamSpec'],
};
const CATEGORY_OF = new Map(Object.entries(CATEGORIES).flatMap(([c, names]) => names.map((n) => [n, c])));

/** TypeDoc plugin entry: `load(app)`. */
export async function load(app) {
  const { Comment, CommentTag, Converter, ReflectionKind } = await import('typedoc');
  // Before TypeDoc's CategoryPlugin (priority -200) sorts the modules' children into sections.
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    for (const mod of context.project.getReflectionsByKind(ReflectionKind.Module)) {
      for (const child of mod.children ?? []) {
        const category = CATEGORY_OF.get(child.name);
        if (!category) continue;
        const holder = child.signatures?.[0] ?? child;
        const has = [child.comment, holder.comment].some((c) => c?.blockTags.some((t) => t.tag === '@category'));
        if (has) continue;
        holder.comment ??= new Comment();
        holder.comment.blockTags.push(new CommentTag('@category', [{ kind: 'text', text: category }]));
      }
    }
  });
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    if (!reflection.kindOf(ReflectionKind.Module)) return;
    const file = context.getSymbolFromReflection(reflection)?.declarations?.find((d) => d.fileName)?.fileName;
    if (!file) return;
    const name = MODULE_NAMES[basename(file)];
    // A module named with @module has its name already; only TypeDoc's guess (the file name) is replaced.
    if (name && reflection.name === basename(file, '.ts')) reflection.name = name;
    if (!reflection.comment) {
      const m = /^\s*\/\*\*([\s\S]*?)\*\//.exec(readFileSync(file, 'utf8'));
      if (m) {
        const text = m[1].split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join('\n').trim();
        reflection.comment = new Comment([{ kind: 'text', text }]);
      }
    }
  });
}

function typedoc(strict) {
  const args = [join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--options', join(ROOT, 'typedoc.json')];
  if (strict) args.push('--validation.notDocumented', '--emit', 'none');
  return spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' }).status ?? 1;
}

/** The checked steps of a guide, in page order. */
function steps(markdown) {
  const out = [];
  const re = /^<!-- check: (\w+)(?: ([^\s>]+))?(?: -->\n+(`{3,})[^\n]*\n([\s\S]*?)\n\3\n| *\n([\s\S]*?)\n-->)/gm;
  for (const m of markdown.matchAll(re)) {
    const [, kind, name, , shown, hidden] = m;
    if (!['node', 'python', 'sh', 'file'].includes(kind)) throw new Error(`unknown check kind "${kind}"`);
    if (kind !== 'sh' && !name) throw new Error(`check: ${kind} needs a file name`);
    const line = markdown.slice(0, m.index).split('\n').length;
    out.push({ kind, name: name ?? `step-${line}.sh`, code: `${shown ?? hidden}\n`, line, hidden: hidden !== undefined });
  }
  return out;
}

let keep = false;

/** Markdown pages under docs/ (not the generated docs/api/), sorted. */
function pages(dir = join(ROOT, 'docs')) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? (e.name === 'api' && dir === join(ROOT, 'docs') ? [] : pages(join(dir, e.name))) : e.name.endsWith('.md') ? [join(dir, e.name)] : []))
    .sort();
}

function checkGuide(path) {
  const md = readFileSync(path, 'utf8');
  const list = steps(md);
  const marked = (md.match(/^<!-- check:/gm) ?? []).length;
  if (marked !== list.length) throw new Error(`${path}: ${marked} check markers but ${list.length} parsed (a marker must be followed by a fenced block, or hold its code)`);
  if (!list.length) return 0;
  const dir = mkdtempSync(join(tmpdir(), 'lstm-wasm-docs-'));
  mkdirSync(join(dir, 'node_modules/.bin'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules/lstm-wasm'), 'dir');
  const bin = join(dir, 'node_modules/.bin/lstm-wasm');
  writeFileSync(bin, `#!/bin/sh\nexec node "${join(ROOT, 'dist/cli.js')}" "$@"\n`);
  chmodSync(bin, 0o755);
  const env = { ...process.env, LSTM_WASM_ROOT: ROOT, PATH: `${join(dir, 'node_modules/.bin')}:${process.env.PATH}` };
  console.log(`${path}: ${list.length} steps in ${dir}`);
  let failed = 0;
  for (const s of list) {
    writeFileSync(join(dir, s.name), s.code);
    if (s.kind === 'file') continue;
    const [cmd, args] = s.kind === 'node' ? [process.execPath, [s.name]] : s.kind === 'python' ? [process.env.PYTHON ?? '/usr/bin/python3', [s.name]] : ['bash', ['-e', s.name]];
    const t0 = Date.now();
    const r = spawnSync(cmd, args, { cwd: dir, env, encoding: 'utf8', timeout: 10 * 60_000 });
    const ok = r.status === 0;
    console.log(`  ${ok ? 'ok  ' : 'FAIL'} line ${s.line}: ${s.kind} ${s.name}${s.hidden ? ' (hidden)' : ''} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    if (!ok) {
      failed++;
      process.stdout.write(`${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}\n`);
      break; // later steps usually depend on this one
    }
  }
  if (!failed && !keep) rmSync(dir, { recursive: true, force: true });
  return failed;
}

function main() {
  const argv = process.argv.slice(2);
  if (argv[0] === '--check') {
    keep = argv.includes('--keep');
    const named = argv.slice(1).filter((a) => a !== '--keep');
    const files = named.length ? named : pages();
    let failed = 0;
    for (const f of files) failed += checkGuide(resolve(f));
    console.log(failed ? `${failed} page(s) failed` : 'all checked steps passed');
    process.exit(failed ? 1 : 0);
  }
  process.exit(typedoc(argv.includes('--strict')));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
