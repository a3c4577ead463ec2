import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';

// Debian's Chromium, no downloads; flags keep it off the (closed) network.
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    projects: [
      { test: { name: 'node', include: ['test/**/*.test.ts'], environment: 'node' } },
      {
        test: {
          name: 'chromium',
          // The parts that exercise the runtime itself: fixtures, kernels, builds.
          include: ['test/fixtures.test.ts', 'test/gemm.test.ts', 'test/builds.test.ts', 'test/streaming.test.ts'],
          browser: {
            enabled: true,
            headless: true,
            // A page screenshot says nothing about a wasm kernel, and every failing or `test.fails`
            // test would drop a PNG into test/__screenshots__/.
            screenshotFailures: false,
            instances: [{ browser: 'chromium' }],
            provider: playwright({ launchOptions: { executablePath: '/usr/bin/chromium', args } }),
          },
        },
      },
    ],
  },
});
