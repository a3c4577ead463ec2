// Bundles the tsc output (build/tsc) into dist/. The .wasm files are assets next to the JS
// (scripts/build-wasm.sh), resolved at run time with new URL('./x.wasm', import.meta.url).
// 1. The browser/default, Node, CLI and workerd entries share one chunk (lstm-core.js).
// 2. lstm-wasm/inline is one self-contained file with both builds embedded (single-file use).
export default [
  {
    input: { index: 'build/tsc/index.js', node: 'build/tsc/node.js', cli: 'build/tsc/cli.js', workerd: 'build/tsc/workerd.js' },
    // .wasm imports stay as they are: workerd/wrangler compile them into modules.
    external: [/^node:/, /\.wasm$/],
    output: { dir: 'dist', format: 'es', chunkFileNames: 'lstm-core.js', sourcemap: false, banner: (chunk) => (chunk.name === 'cli' ? '#!/usr/bin/env node' : '') },
  },
  {
    input: 'build/tsc/inline.js',
    external: [/^node:/],
    output: { file: 'dist/inline.js', format: 'es', sourcemap: false },
  },
];
