import { defineConfig } from 'vite';

// Served by Berth at `/`; in development (`npm run dev -w web`) the APIs are proxied to a local Berth.
const api = process.env.BERTH_URL ?? 'http://127.0.0.1:5000';

export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022', assetsInlineLimit: 0 },
  server: {
    host: '127.0.0.1',
    proxy: Object.fromEntries(['/docker/api', '/repository/api', '/auth/api', '/v2'].map((p) => [p, api])),
  },
});
