/// <reference types="vitest/config" />
// One build, five pages: the landing/login page and one app per group of users. Each app is its own entry, so an
// officer's phone loads the officer app's code (Vant) and never the command center's map and charts.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import vue from '@vitejs/plugin-vue'
import { defineConfig, type Plugin } from 'vite'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

// Swagger UI and ReDoc for the hub's /docs and /redoc, served by the hub itself (no CDN): their files are copied
// from the locked npm packages into dist/vendor/ under fixed names.
const VENDOR_FILES: Record<string, string> = {
  'vendor/swagger-ui/swagger-ui.css': 'swagger-ui-dist/swagger-ui.css',
  'vendor/swagger-ui/swagger-ui-bundle.js': 'swagger-ui-dist/swagger-ui-bundle.js',
  'vendor/redoc/redoc.standalone.js': 'redoc/bundles/redoc.standalone.js',
}

function vendorFiles(): Plugin {
  return {
    name: 'cityops-vendor-files',
    apply: 'build',
    generateBundle() {
      for (const [fileName, module] of Object.entries(VENDOR_FILES)) {
        this.emitFile({ type: 'asset', fileName, source: readFileSync(require.resolve(module)) })
      }
    },
  }
}

export default defineConfig({
  plugins: [vue(), vendorFiles()],
  resolve: { alias: { '@': resolve(here, 'src') } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      input: {
        login: resolve(here, 'index.html'),
        command: resolve(here, 'command/index.html'),
        officer: resolve(here, 'officer/index.html'),
        technician: resolve(here, 'technician/index.html'),
        admin: resolve(here, 'admin/index.html'),
      },
      output: {
        // Big libraries in chunks of their own: cached across apps and releases, each file well under 1 MB.
        manualChunks(id: string) {
          for (const lib of ['echarts', 'zrender', 'element-plus', 'vant', 'leaflet', 'konva']) {
            if (id.includes(`/node_modules/${lib}/`)) return `lib-${lib}`
          }
          return undefined
        },
      },
    },
  },
  server: {
    // `npm run dev` talks to a hub on its default port.
    proxy: { '/api': 'http://127.0.0.1:8765', '/docs': 'http://127.0.0.1:8765', '/openapi.json': 'http://127.0.0.1:8765' },
  },
  test: {
    environment: 'jsdom',
    include: ['tests/unit/**/*.test.ts'],
  },
})
