import { defineConfig } from 'vite';

// The console builds into the Go package that embeds it. No inline script
// or style is emitted (the CSP forbids them): the module preload polyfill
// is off and assets are never inlined as data: URLs.
export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: '../internal/console/dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2020',
    cssCodeSplit: false,
    reportCompressedSize: false,
  },
});
