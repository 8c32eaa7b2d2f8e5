// SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
// cluster.test.mjs -- the official chromadb JS client against a quiver cluster: 3 NATS
// JetStream servers and 3 quiver nodes started by scripts/cluster-up.sh (loopback only).
// Collections made through one node are used through the others; add, query, get with a
// filter, upsert, delete, count, list and delete-collection across nodes. Needs nats-server
// (scripts/install-deps.sh): without it cluster-up.sh fails and so does this test.
// Run: cd tests/js && npm install && node --test   (QUIVER_BIN overrides ../../build/quiver)
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { ChromaClient } from "chromadb";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.QUIVER_BIN ? resolve(process.env.QUIVER_BIN) : resolve(here, "../../build/quiver");
const SCRIPT = resolve(here, "../../scripts/cluster-up.sh");

function startCluster(dir) {
  const proc = spawn(SCRIPT, [dir], { env: { ...process.env, QUIVER_BIN: BIN }, stdio: ["ignore", "pipe", "inherit"] });
  const urls = [];
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error("cluster not ready in 100 s")), 100000);
    proc.once("exit", (code) => rej(new Error(`cluster-up.sh exited ${code} before printing 3 URLs`)));
    createInterface({ input: proc.stdout }).on("line", (line) => {
      urls.push(line.trim());
      if (urls.length === 3) {
        clearTimeout(timer);
        res({ proc, urls });
      }
    });
  });
}

// reads through nodes other than the writer's ask for strong consistency (docs/CLUSTER.md):
// every write acknowledged anywhere is seen, without carrying the write token
const client = (u, headers = {}) => {
  const x = new URL(u);
  return new ChromaClient({ host: x.hostname, port: Number(x.port), ssl: false, headers });
};

test("chromadb client across the nodes of a cluster", { timeout: 180000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quiver-js-cluster-"));
  const { proc, urls } = await startCluster(join(dir, "c"));
  try {
    assert.equal(urls.length, 3);
    for (const u of urls) assert.match(u, /^http:\/\/127\.0\.0\.1:\d+$/);
    const strong = { "X-Quiver-Consistency": "strong" };
    const [c1, c2, c3] = [client(urls[0]), client(urls[1], strong), client(urls[2], strong)];
    const col = await c1.createCollection({ name: "jsc1", embeddingFunction: null });
    await col.add({
      ids: ["a", "b", "c", "d"], embeddings: [[1, 0], [0, 1], [1, 1], [5, 5]],
      metadatas: [{ k: 1 }, { k: 2 }, { k: 3 }, { k: 4 }], documents: ["x", "y", "z", "w"],
    });
    const col2 = await c2.getCollection({ name: "jsc1", embeddingFunction: null });
    assert.equal(await col2.count(), 4);
    const q = await col2.query({ queryEmbeddings: [[1, 0.1]], nResults: 2 });
    assert.deepEqual(q.ids, [["a", "c"]]);
    assert.deepEqual(q.documents, [["x", "z"]]);
    const g = await col2.get({ where: { k: { $gte: 3 } } });
    assert.deepEqual([...g.ids].sort(), ["c", "d"]);
    await col.upsert({ ids: ["a"], embeddings: [[9, 9]], metadatas: [{ k: 10 }] });
    await col.delete({ ids: ["b"] });
    const col3 = await c3.getCollection({ name: "jsc1", embeddingFunction: null });
    // a strong read on node 3 sees both writes
    assert.equal(await col3.count(), 3);
    const ab = await col3.get({ ids: ["a", "b"] });
    assert.deepEqual(ab.ids, ["a"]);
    assert.deepEqual(ab.metadatas, [{ k: 10 }]);
    await assert.rejects(col3.add({ ids: ["e"], embeddings: [[1, 2, 3]] }), /dimension/);
    assert.deepEqual((await c3.listCollections()).map((c) => c.name), ["jsc1"]);
    await c3.deleteCollection({ name: "jsc1" });
    assert.equal((await c1.listCollections()).length, 0);
  } finally {
    const exited = new Promise((r) => proc.once("exit", (code) => r(code)));
    proc.kill("SIGTERM");
    assert.equal(await exited, 0, "cluster-up.sh exits 0 on SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
});
