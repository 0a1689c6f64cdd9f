// After `vite build`: a gzip copy beside each text file of the build (scripts, styles, SVG, JSON, HTML over 1 KiB),
// so the hub sends compressed bytes without compressing on every request (cloud_hub/api/web.py picks `name.gz`
// when the browser accepts gzip). Level 9: done once per build. Deterministic: no file name or time in the header.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync, constants } from 'node:zlib'

const DIST = new URL('../dist/', import.meta.url).pathname
const TEXT = /\.(js|mjs|css|svg|json|html|map|txt|webmanifest)$/
const MIN_BYTES = 1024

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) yield* files(path)
    else yield path
  }
}

let count = 0
let before = 0
let after = 0
for (const path of files(DIST)) {
  if (!TEXT.test(path)) continue
  const raw = readFileSync(path)
  if (raw.length < MIN_BYTES) continue
  const packed = gzipSync(raw, { level: constants.Z_BEST_COMPRESSION })
  if (packed.length >= raw.length) continue
  writeFileSync(`${path}.gz`, packed)
  count += 1
  before += raw.length
  after += packed.length
}
console.log(`precompressed ${count} files: ${(before / 1048576).toFixed(1)} MiB -> ${(after / 1048576).toFixed(1)} MiB`)
