// SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
//
// core_flow.test.mjs -- the official, unmodified `chromadb` npm client (3.5.0) against a
// freshly started `quiver serve`: collections, records, filters, and errors surfacing as the
// client's own error classes. Embeddings are always passed explicitly (embeddingFunction:
// null), so nothing is downloaded.
//
// Run: cd tests/js && npm install && node --test   (QUIVER_BIN overrides ../../build/quiver)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ChromaClient,
  ChromaClientError,
  ChromaNotFoundError,
  ChromaUniqueError,
  ChromaUnauthorizedError,
  ChromaValueError,
} from "chromadb";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.QUIVER_BIN ? resolve(process.env.QUIVER_BIN) : resolve(here, "../../build/quiver");
// a suite that cannot run fails; it never skips itself
if (!existsSync(BIN)) throw new Error(`${BIN} not built (build it, or point QUIVER_BIN at the binary)`);

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

async function startServer(extra = []) {
  const dir = mkdtempSync(join(tmpdir(), "quiver-js-"));
  const port = await freePort();
  const proc = spawn(BIN, ["serve", "--data", join(dir, "data"), "--port", String(port),
    "--log-level", "warn", ...extra], { stdio: ["ignore", "inherit", "inherit"] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${url}/api/v2/heartbeat`);
      if (r.ok) return { proc, port, dir, url };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill("SIGKILL");
  throw new Error("quiver serve did not start");
}

async function stopServer(s) {
  const exited = new Promise((r) => s.proc.once("exit", (code) => r(code)));
  s.proc.kill("SIGTERM");
  const code = await exited;
  rmSync(s.dir, { recursive: true, force: true });
  return code;
}

describe("chromadb 3.5.0 client against quiver serve", () => {
  let srv, client;
  before(async () => {
    srv = await startServer();
    client = new ChromaClient({ host: "127.0.0.1", port: srv.port });
  });
  after(async () => {
    assert.equal(await stopServer(srv), 0);
  });

  test("heartbeat and version", async () => {
    const hb = await client.heartbeat();
    assert.ok(typeof hb === "number" && hb > 1e18);
    assert.equal(typeof (await client.version()), "string");
  });

  test("collections: create, get-or-create, get, list, count, modify, delete", async () => {
    const col = await client.createCollection({ name: "js-col", metadata: { team: "a" },
      embeddingFunction: null });
    assert.equal(col.name, "js-col");
    assert.deepEqual(col.metadata, { team: "a" });
    const again = await client.getOrCreateCollection({ name: "js-col", embeddingFunction: null });
    assert.equal(again.id, col.id);
    const got = await client.getCollection({ name: "js-col", embeddingFunction: null });
    assert.equal(got.id, col.id);
    const list = await client.listCollections();
    assert.ok(list.some((c) => c.name === "js-col"));
    assert.equal(await client.countCollections(), list.length);
    await col.modify({ name: "js-col2", metadata: { team: "b" } });
    const renamed = await client.getCollection({ name: "js-col2", embeddingFunction: null });
    assert.deepEqual(renamed.metadata, { team: "b" });
    await client.deleteCollection({ name: "js-col2" });
    await assert.rejects(client.getCollection({ name: "js-col2" }), ChromaNotFoundError);
  });

  test("records: add, count, query with where/whereDocument, get, peek", async () => {
    const col = await client.getOrCreateCollection({ name: "demo", embeddingFunction: null });
    await col.add({
      ids: ["a", "b", "c"],
      embeddings: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
      metadatas: [{ k: 1, tag: "x" }, { k: 2, tag: "y" }, { k: 3, tag: "x" }],
      documents: ["doc a", "doc b", "doc c"],
    });
    assert.equal(await col.count(), 3);
    const q = await col.query({ queryEmbeddings: [[1, 0.1, 0]], nResults: 2, where: { tag: "x" } });
    assert.deepEqual(q.ids, [["a", "c"]]);
    assert.deepEqual(q.documents, [["doc a", "doc c"]]);
    assert.ok(Math.abs(q.distances[0][0] - 0.01) < 1e-5);
    assert.deepEqual(q.metadatas[0][1], { k: 3, tag: "x" });
    const rows = q.rows();
    assert.equal(rows[0][0].id, "a");
    const qd = await col.query({ queryEmbeddings: [[0, 0, 1]], nResults: 3,
      whereDocument: { $contains: "doc b" } });
    assert.deepEqual(qd.ids, [["b"]]);
    const g = await col.get({ ids: ["a", "b"] });
    assert.deepEqual([...g.ids].sort(), ["a", "b"]);
    const gw = await col.get({ where: { k: { $gte: 2 } }, include: ["embeddings", "metadatas"] });
    assert.deepEqual(gw.ids, ["b", "c"]);
    assert.deepEqual(gw.embeddings, [[0, 1, 0], [0, 0, 1]]);
    const peek = await col.peek({ limit: 2 });
    assert.equal(peek.ids.length, 2);
  });

  test("records: update, upsert, delete", async () => {
    const col = await client.getOrCreateCollection({ name: "demo", embeddingFunction: null });
    // documents without embeddings would make the client embed them: pass both
    await col.update({ ids: ["b", "ghost"], embeddings: [[0, 2, 0], [9, 9, 9]],
      documents: ["B!", "nobody"], metadatas: [{ k: 20 }, { k: 0 }] });
    await col.update({ ids: ["c"], metadatas: [{ seen: true }] });
    let g = await col.get({ ids: ["b"] });
    assert.deepEqual(g.documents, ["B!"]);
    assert.deepEqual(g.metadatas, [{ k: 20, tag: "y" }]);
    await col.upsert({ ids: ["a", "d"], embeddings: [[1, 1, 0], [0.5, 0.5, 0.5]],
      metadatas: [{ extra: true }, { k: 4 }], documents: ["A!", "doc d"] });
    assert.deepEqual((await col.get({ ids: ["c"] })).metadatas, [{ k: 3, tag: "x", seen: true }]);
    g = await col.get({ ids: ["a", "d"], include: ["metadatas", "documents"] });
    const byId = Object.fromEntries(g.ids.map((id, i) => [id, [g.documents[i], g.metadatas[i]]]));
    assert.deepEqual(byId.a, ["A!", { k: 1, tag: "x", extra: true }]);
    assert.deepEqual(byId.d, ["doc d", { k: 4 }]);
    assert.equal(await col.count(), 4);
    const del = await col.delete({ ids: ["a"] });
    assert.equal(del?.deleted ?? 1, 1);
    await col.delete({ where: { tag: "x" } });
    assert.equal(await col.count(), 2);
    assert.deepEqual((await col.get()).ids.sort(), ["b", "d"]);
    assert.deepEqual((await col.get({ ids: ["b"], include: ["embeddings"] })).embeddings, [[0, 2, 0]]);
  });

  test("errors surface as the client's own classes", async () => {
    const col = await client.getOrCreateCollection({ name: "errs", embeddingFunction: null });
    await col.add({ ids: ["x"], embeddings: [[1, 2, 3]] });
    // dimension mismatch: 400 from the server
    await assert.rejects(col.add({ ids: ["y"], embeddings: [[1, 2]] }), (e) => {
      assert.ok(e instanceof ChromaClientError, e.name);
      assert.match(e.message, /dimension/);
      return true;
    });
    await assert.rejects(col.query({ queryEmbeddings: [[1, 2]], nResults: 1 }), ChromaClientError);
    // a filter the client lets through but the server rejects
    await assert.rejects(col.get({ whereDocument: { $regex: "(" } }), ChromaClientError);
    // a filter the client rejects itself
    await assert.rejects(col.get({ where: { k: { $gt: "x" }, other: 1 } }),
      (e) => e instanceof ChromaValueError || e instanceof ChromaClientError);
    // missing collection
    await assert.rejects(client.getCollection({ name: "no-such-coll" }), ChromaNotFoundError);
    await assert.rejects(client.deleteCollection({ name: "no-such-coll" }), ChromaNotFoundError);
    const gone = await client.createCollection({ name: "gone", embeddingFunction: null });
    await client.deleteCollection({ name: "gone" });
    await assert.rejects(gone.count(), ChromaNotFoundError);
    // duplicate create
    await assert.rejects(client.createCollection({ name: "errs", embeddingFunction: null }),
      ChromaUniqueError);
    // invalid name
    await assert.rejects(client.createCollection({ name: "x", embeddingFunction: null }),
      (e) => e instanceof ChromaClientError || e instanceof ChromaValueError);
    // the server keeps serving
    assert.equal(await col.count(), 1);
  });

  test("cosine space and many records (base64 on the wire)", async () => {
    const col = await client.createCollection({ name: "many", embeddingFunction: null,
      configuration: { hnsw: { space: "cosine" } } });
    const n = 500, dim = 16;
    const ids = [], embs = [];
    for (let i = 0; i < n; i++) {
      ids.push(`r${i}`);
      embs.push(Array.from({ length: dim }, (_, j) => Math.sin(i * 0.37 + j)));
    }
    await col.add({ ids, embeddings: embs });
    assert.equal(await col.count(), n);
    const q = await col.query({ queryEmbeddings: [embs[123]], nResults: 5 });
    assert.equal(q.ids[0][0], "r123");
    assert.ok(q.distances[0][0] < 1e-5);
  });
});

describe("token auth", () => {
  let srv;
  before(async () => { srv = await startServer(["--token", "tok-123"]); });
  after(async () => { assert.equal(await stopServer(srv), 0); });

  test("with and without the token", async () => {
    const good = new ChromaClient({ host: "127.0.0.1", port: srv.port,
      headers: { "x-chroma-token": "tok-123" } });
    const col = await good.getOrCreateCollection({ name: "secured", embeddingFunction: null });
    await col.add({ ids: ["1"], embeddings: [[1, 2]] });
    assert.equal(await col.count(), 1);
    const bad = new ChromaClient({ host: "127.0.0.1", port: srv.port,
      headers: { "x-chroma-token": "nope" } });
    await assert.rejects(bad.listCollections(), ChromaUnauthorizedError);
    const none = new ChromaClient({ host: "127.0.0.1", port: srv.port });
    await assert.rejects(none.getCollection({ name: "secured" }), ChromaUnauthorizedError);
    assert.ok((await none.heartbeat()) > 0);
  });
});
