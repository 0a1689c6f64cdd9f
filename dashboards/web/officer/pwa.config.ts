// The officer app as an installable web app that starts offline: a service worker at /officer/sw.js (scope /officer/)
// made by vite-plugin-pwa (Workbox generateSW) that precaches the officer page and exactly the hashed files it needs,
// and answers every /officer/... navigation with the cached page. The web app manifest and icons are static files in
// public/officer/ (linked from officer/index.html).
//
// The plugin is meant for one-page builds, so it is held to the officer app here: no registration script or manifest
// link is injected into the pages (the other apps get nothing; the officer app registers its worker itself), and the
// precache list is cut to what the officer entry imports, statically or lazily (computed from the bundle below), not
// every app's files.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Plugin } from 'vite'
import { VitePWA } from 'vite-plugin-pwa'

const require = createRequire(import.meta.url)
const ENTRY = '/officer/index.html'
// browser-image-compression runs in a web worker that loads the library by URL, by default from a CDN.
const COMPRESSOR = 'officer/vendor/browser-image-compression.js'

/** Build output files the officer entry needs (its chunks, their lazy chunks, CSS and assets). */
const officerFiles = new Set<string>()

function officerBundle(): Plugin {
  return {
    name: 'cityops-officer-bundle',
    apply: 'build',
    generateBundle(_options, bundle) {
      officerFiles.clear()
      const entry = Object.values(bundle).find(
        (file) => file.type === 'chunk' && file.isEntry && (file.facadeModuleId ?? '').endsWith(ENTRY),
      )
      if (!entry) this.error(`no chunk for ${ENTRY}: the officer app's offline list cannot be made`)
      const visit = (fileName: string): void => {
        const file = bundle[fileName]
        if (!file || officerFiles.has(fileName)) return
        officerFiles.add(fileName)
        if (file.type !== 'chunk') return
        file.viteMetadata?.importedCss.forEach((css) => officerFiles.add(css))
        file.viteMetadata?.importedAssets.forEach((asset) => officerFiles.add(asset))
        ;[...file.imports, ...file.dynamicImports].forEach(visit)
      }
      visit(entry.fileName)
      const library = readFileSync(require.resolve('browser-image-compression/dist/browser-image-compression.js'), 'utf8')
      this.emitFile({ type: 'asset', fileName: COMPRESSOR, source: library })
    },
  }
}

export function officerPwa(): Plugin[] {
  return [
    officerBundle(),
    ...VitePWA({
      strategies: 'generateSW',
      filename: 'officer/sw.js',
      scope: '/officer/',
      injectRegister: false,
      manifest: false,
      workbox: {
        globPatterns: [
          'officer/index.html',
          'officer/manifest.webmanifest',
          'officer/icons/*.png',
          'officer/vendor/*.js',
          'icons/*.svg',
          'assets/**/*.{js,css,png,svg,woff2}',
        ],
        manifestTransforms: [
          async (entries) => ({
            // Scripts and styles of the officer entry only; URLs from the site root (the worker lives in /officer/).
            manifest: entries
              .filter((entry) => !/^assets\/.*\.(js|css)$/.test(entry.url) || officerFiles.has(entry.url))
              .map((entry) => ({ ...entry, url: `/${entry.url}` })),
            warnings: [],
          }),
        ],
        navigateFallback: ENTRY,
        navigateFallbackAllowlist: [/^\/officer\//],
        inlineWorkboxRuntime: true,
        cleanupOutdatedCaches: true,
        clientsClaim: true,
        skipWaiting: true,
        sourcemap: false,
        importScripts: ['/officer/sw-notify.js'],
        maximumFileSizeToCacheInBytes: 3 * 1024 * 1024,
      },
    }),
  ]
}
