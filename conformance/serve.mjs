// A tiny static server for the browser runs: the repo's dist/, conformance/ and test/fixtures/ only,
// from 127.0.0.1 on a free port, `.wasm` as application/wasm (so instantiateStreaming is used).
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ALLOWED = ['dist/', 'conformance/', 'test/fixtures/'];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** Start serving; resolves to { url, port, close() }. */
export function serve(root = ROOT) {
  const server = createServer(async (req, res) => {
    const rel = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^[/\\]+/, '');
    if (rel.includes('..') || !ALLOWED.some((p) => rel.startsWith(p))) return res.writeHead(404).end();
    try {
      const body = await readFile(join(root, rel.split('/').join(sep)));
      res.writeHead(200, { 'content-type': TYPES[extname(rel)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ port, url: `http://127.0.0.1:${port}`, close: () => new Promise((ok) => server.close(() => ok())) });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await serve();
  console.log(`serving ${ALLOWED.join(', ')} of ${ROOT} at ${s.url}/conformance/browser/index.html`);
}
