// Bundles the tsc output (build/tsc) into dist/: the browser/default entry and the Node entry,
// sharing one chunk. The .wasm files are assets next to them (scripts/build-wasm.sh), resolved
// at run time with new URL(..., import.meta.url).
export default {
  input: { index: 'build/tsc/index.js', node: 'build/tsc/node.js', cli: 'build/tsc/cli.js', workerd: 'build/tsc/workerd.js', inline: 'build/tsc/inline.js' },
  // .wasm imports stay as they are: workerd/wrangler compile them into modules.
  external: [/^node:/, /\.wasm$/],
  output: { dir: 'dist', format: 'es', chunkFileNames: 'lstm-core.js', sourcemap: false, banner: (chunk) => (chunk.name === 'cli' ? '#!/usr/bin/env node' : '') },
};
