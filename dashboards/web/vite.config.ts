/// <reference types="vitest/config" />
// One build, five pages: the landing/login page and one app per group of users. Each app is its own entry, so an
// officer's phone loads the officer app's code (Vant) and never the command center's map and charts.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import vue from '@vitejs/plugin-vue'
import { defineConfig, type Plugin } from 'vite'
import { officerPwa } from './officer/pwa.config'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

// Swagger UI and ReDoc for the hub's /docs and /redoc, served by the hub itself (no CDN): their files are copied
// from the locked npm packages into dist/vendor/ under fixed names. ReDoc's footer logo points at its CDN: it is
// pointed at a local stand-in instead (the "API docs by Redocly" credit stays).
const REDOC_LOGO_CDN = 'https://cdn.redoc.ly/redoc/logo-mini.svg'
const REDOC_LOGO_LOCAL = '/vendor/redoc/logo-mini.svg'
const REDOC_LOGO_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="66" height="14"><text x="0" y="11" font-family="sans-serif" ' +
  'font-size="11" fill="#8c8c8c">Redocly</text></svg>'
const VENDOR_FILES: Record<string, [string, (text: string) => string]> = {
  'vendor/swagger-ui/swagger-ui.css': ['swagger-ui-dist/swagger-ui.css', (t) => t],
  'vendor/swagger-ui/swagger-ui-bundle.js': ['swagger-ui-dist/swagger-ui-bundle.js', (t) => t],
  'vendor/redoc/redoc.standalone.js': [
    'redoc/bundles/redoc.standalone.js',
    (t) => t.replaceAll(REDOC_LOGO_CDN, REDOC_LOGO_LOCAL),
  ],
}

function vendorFiles(): Plugin {
  return {
    name: 'cityops-vendor-files',
    apply: 'build',
    generateBundle() {
      for (const [fileName, [module, adapt]] of Object.entries(VENDOR_FILES)) {
        this.emitFile({ type: 'asset', fileName, source: adapt(readFileSync(require.resolve(module), 'utf8')) })
      }
      this.emitFile({ type: 'asset', fileName: REDOC_LOGO_LOCAL.slice(1), source: REDOC_LOGO_SVG })
    },
  }
}

// Vant's icon font lists a fallback on a CDN (at.alicdn.com) after its inline woff2: Chromium fetches it anyway,
// and no request may leave the hub's origin. Remote sources are cut from third-party @font-face rules.
const REMOTE_FONT_SOURCE = /,\s*url\((?:https?:)?\/\/[^)]+\)\s*format\([^)]*\)/g

function noRemoteFonts(): Plugin {
  return {
    name: 'cityops-no-remote-fonts',
    enforce: 'pre',
    transform(code: string, id: string) {
      if (!id.includes('/node_modules/') || !id.split('?')[0].endsWith('.css')) return undefined
      const local = code.replace(REMOTE_FONT_SOURCE, '')
      return local === code ? undefined : { code: local, map: null }
    },
  }
}

export default defineConfig({
  plugins: [noRemoteFonts(), vue(), vendorFiles(), ...officerPwa()],
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
          // Vue (and Rollup's CommonJS helper) in a chunk of their own: left alone, Rollup puts them into the first
          // library chunk that uses them (Element Plus), and the officer's phone would load 1.3 MB of Element Plus.
          if (/\/node_modules\/(@vue|vue|vue-router|vue-i18n|@intlify)\//.test(id)) return 'lib-vue'
          if (id.includes('commonjsHelpers')) return 'lib-vue'
          // ECharts with its renderer and their tslib in one chunk: apart, Rollup puts tslib into lib-echarts, the
          // two chunks import each other, and zrender runs before tslib is defined ("extendStatics is not a function").
          if (/\/node_modules\/(echarts|zrender|tslib)\//.test(id)) return 'lib-echarts'
          for (const lib of ['element-plus', 'vant', 'leaflet', 'konva']) {
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
