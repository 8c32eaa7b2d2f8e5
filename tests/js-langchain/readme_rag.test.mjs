// SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
//
// readme_rag.test.mjs -- the README's "RAG with LangChain JS" example runs as written against
// a freshly started `quiver serve` (only its URL is pointed at the test server).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.QUIVER_BIN ? resolve(process.env.QUIVER_BIN) : resolve(here, "../../build/quiver");

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on("error", rej);
  });
}

let proc, dir, url;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "quiver-readme-rag-"));
  const port = await freePort();
  proc = spawn(BIN, ["serve", "--data", join(dir, "data"), "--port", String(port), "--log-level", "warn"],
    { stdio: ["ignore", "inherit", "inherit"] });
  url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/api/v2/heartbeat`)).ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("quiver serve did not start");
});
after(async () => {
  const exited = new Promise((r) => proc.once("exit", (code) => r(code)));
  proc.kill("SIGTERM");
  assert.equal(await exited, 0);
  rmSync(dir, { recursive: true, force: true });
});

test("README RAG example", async () => {
  const readme = readFileSync(resolve(here, "../../README.md"), "utf8");
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  const rag = blocks.filter((b) => b.includes("@langchain/community"));
  assert.equal(rag.length, 1, "one LangChain block in README.md");
  assert.ok(rag[0].includes('"http://localhost:8000"'));
  // next to node_modules, so that its imports resolve
  const file = join(here, `.readme-rag-${process.pid}.mjs`);
  writeFileSync(file, rag[0].replace('"http://localhost:8000"', JSON.stringify(url)));
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [file], { timeout: 60000 });
    const lines = stdout.trim().split("\n");
    assert.match(lines[0], /^0\.\d{3} refunds$/);        // nearest billing document
    assert.match(lines[1], /^\d\.\d{3} invoices$/);      // the other one; holidays filtered out
    assert.ok(stdout.includes("Refunds are paid within 14 days of the return"));
    assert.ok(stdout.includes("Question: When are refunds paid?"));
  } finally {
    rmSync(file, { force: true });
  }
  // the example's last line deleted "holidays"
  const r = await fetch(`${url}/api/v2/tenants/default_tenant/databases/default_database/collections/handbook`);
  const col = await r.json();
  const got = await (await fetch(`${url}/api/v2/tenants/default_tenant/databases/default_database/collections/${col.id}/get`,
    { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).json();
  assert.deepEqual(got.ids.sort(), ["invoices", "refunds"]);
});
