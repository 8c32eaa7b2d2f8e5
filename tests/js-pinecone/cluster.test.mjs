// SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
//
// cluster.test.mjs -- the official, unmodified `@pinecone-database/pinecone` npm client against
// a quiver cluster: scripts/cluster-up.sh (3 NATS JetStream servers, 3 quiver nodes, each with
// --pinecone-port; PINECONE_URLS in DIR/cluster.env). The index is made through node 1's
// control plane, written through node 1 and read through nodes 2 and 3 (every client sends
// X-Quiver-Consistency: strong, so a read sees every write acknowledged before it started).
// Needs nats-server: without it the test FAILS.
//
// Run: cd tests/js-pinecone && npm install && node --test   (QUIVER_BIN overrides ../../build/quiver)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Pinecone, Errors } from "@pinecone-database/pinecone";

const { PineconeBadRequestError, PineconeConflictError, PineconeNotFoundError } = Errors;
const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.QUIVER_BIN ? resolve(process.env.QUIVER_BIN) : resolve(here, "../../build/quiver");
const SCRIPT = resolve(here, "../../scripts/cluster-up.sh");
const SPEC = { serverless: { cloud: "aws", region: "us-east-1" } };
const STRONG = { "X-Quiver-Consistency": "strong" };

function startCluster() {
  const dir = mkdtempSync(join(tmpdir(), "quiver-clpc-"));
  const proc = spawn(SCRIPT, [join(dir, "c")], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, QUIVER_BIN: BIN, QV_CLUSTER_START_TIMEOUT: "90" },
  });
  return new Promise((res, rej) => {
    let out = "";
    const timer = setTimeout(() => rej(new Error("cluster-up.sh not ready in 100 s")), 100000);
    proc.stdout.on("data", (d) => {
      out += d;
      if (out.split("\n").filter((l) => l).length >= 3) {
        clearTimeout(timer);
        const env = Object.fromEntries(readFileSync(join(dir, "c", "cluster.env"), "utf8").split("\n")
          .filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
        res({ proc, dir, pc: env.PINECONE_URLS.split(",") });
      }
    });
    proc.once("exit", (code) => rej(new Error(`cluster-up.sh exited ${code}`)));
  });
}

async function stopCluster(c) {
  const exited = new Promise((r) => c.proc.once("exit", (code) => r(code)));
  c.proc.kill("SIGTERM");
  const code = await exited;
  rmSync(c.dir, { recursive: true, force: true });
  return code;
}

const ids = (matches) => matches.map((m) => m.id);

describe("@pinecone-database/pinecone 8.2.0 against a 3-node quiver cluster", () => {
  let cl;
  const client = (i) => new Pinecone({ apiKey: "local", controllerHostUrl: cl.pc[i], maxRetries: 0,
    additionalHeaders: STRONG });
  before(async () => {
    cl = await startCluster();
  });
  after(async () => {
    cl.proc.removeAllListeners("exit");
    assert.equal(await stopCluster(cl), 0);
  });

  test("index made on one node, written through it, read through the others", async () => {
    const pcs = [0, 1, 2].map(client);
    const model = await pcs[0].createIndex({ name: "jsdocs", dimension: 3, metric: "cosine", spec: SPEC,
      waitUntilReady: true });
    assert.equal(model.host, `${cl.pc[0]}/data/jsdocs`);
    await assert.rejects(pcs[1].createIndex({ name: "jsdocs", dimension: 3, spec: SPEC }), PineconeConflictError);
    assert.deepEqual((await pcs[2].listIndexes()).indexes.map((i) => i.name), ["jsdocs"]);
    const w = pcs[0].index({ name: "jsdocs" });
    await w.upsert({ records: [
      { id: "a", values: [1, 0, 0], metadata: { genre: "drama", year: 2001, tags: ["x", "y"] } },
      { id: "b", values: [0, 1, 0], metadata: { genre: "comedy", year: 1999 } },
      { id: "c", values: [0.9, 0.1, 0], metadata: { genre: "drama", year: 2010 } },
      { id: "d", values: [0, 0, 1] },
    ] });
    await w.namespace("ns1").upsert({ records: [{ id: "a", values: [0, 0, 1], metadata: { genre: "other" } }] });
    const r1 = pcs[1].index({ name: "jsdocs" }), r2 = pcs[2].index({ name: "jsdocs" });
    let r = await r1.query({ vector: [1, 0, 0], topK: 2, includeMetadata: true });
    assert.deepEqual(ids(r.matches), ["a", "c"]);
    assert.ok(Math.abs(r.matches[0].score - 1) < 1e-5);
    assert.deepEqual(r.matches[0].metadata, { genre: "drama", year: 2001, tags: ["x", "y"] });
    r = await r2.query({ vector: [1, 0, 0], topK: 5, filter: { genre: { $eq: "drama" }, year: { $gt: 2005 } } });
    assert.deepEqual(ids(r.matches), ["c"]);
    r = await r2.query({ id: "c", topK: 2, includeValues: true });
    assert.deepEqual(ids(r.matches), ["c", "a"]);
    const f = await r1.fetch({ ids: ["a", "d", "zz"] });
    assert.deepEqual(Object.keys(f.records).sort(), ["a", "d"]);
    await w.update({ id: "b", metadata: { year: 2020 } });
    const fb = await r2.fetch({ ids: ["b"] });
    assert.deepEqual(fb.records.b.metadata, { genre: "comedy", year: 2020 });
    const stats = await r1.describeIndexStats();
    assert.equal(stats.totalRecordCount, 5);
    assert.deepEqual(stats.namespaces, { __default__: { recordCount: 4 }, ns1: { recordCount: 1 } });
    const page = await r2.listPaginated({ prefix: "", limit: 3 });
    assert.deepEqual(page.vectors.map((v) => v.id), ["a", "b", "c"]);
    await w.deleteMany({ ids: ["a", "b"] });
    await w.namespace("ns1").deleteAll();
    assert.deepEqual(Object.keys((await r1.describeIndexStats()).namespaces), ["__default__"]);
    assert.deepEqual(ids((await r2.query({ vector: [1, 0, 0], topK: 5 })).matches), ["c", "d"]);
    await assert.rejects(w.upsert({ records: [{ id: "x", values: [1, 2] }] }),
      (e) => e instanceof PineconeBadRequestError && /dimension/.test(e.message));
    await pcs[2].deleteIndex("jsdocs");
    await assert.rejects(pcs[0].describeIndex("jsdocs"), PineconeNotFoundError);
  });
});
