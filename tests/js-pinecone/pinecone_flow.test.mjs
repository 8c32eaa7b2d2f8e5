// SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
//
// pinecone_flow.test.mjs -- the official, unmodified `@pinecone-database/pinecone` npm client
// (8.2.0) against a freshly started `quiver serve --pinecone-port`: control plane, every
// data-plane route, namespaces, the filter language with Pinecone's own rules, sparse-dense
// queries, errors surfacing as the client's own error classes, Api-Key auth, and the same
// data read back through the Chroma API.
//
// Run: cd tests/js-pinecone && npm install && node --test   (QUIVER_BIN overrides ../../build/quiver)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Pinecone, Errors } from "@pinecone-database/pinecone";

const { PineconeAuthorizationError, PineconeBadRequestError, PineconeConflictError,
  PineconeNotFoundError } = Errors;

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.QUIVER_BIN ? resolve(process.env.QUIVER_BIN) : resolve(here, "../../build/quiver");
const SPEC = { serverless: { cloud: "aws", region: "us-east-1" } };

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
  const dir = mkdtempSync(join(tmpdir(), "quiver-pc-"));
  const port = await freePort();
  let pcPort = await freePort();
  while (pcPort === port) pcPort = await freePort();
  const proc = spawn(BIN, ["serve", "--data", join(dir, "data"), "--port", String(port),
    "--pinecone-port", String(pcPort), "--log-level", "warn", ...extra],
  { stdio: ["ignore", "inherit", "inherit"] });
  const url = `http://127.0.0.1:${port}`;
  const pcUrl = `http://127.0.0.1:${pcPort}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${url}/api/v2/heartbeat`);
      const r2 = await fetch(`${pcUrl}/indexes`, { headers: { "Api-Key": "probe" } });
      if (r.ok && (r2.ok || r2.status === 401)) return { proc, port, pcPort, dir, url, pcUrl };
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

const approx = (a, b, eps = 1e-5) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);
const ids = (matches) => matches.map((m) => m.id);
const sortedIds = (matches) => ids(matches).sort();

describe("@pinecone-database/pinecone 8.2.0 against quiver serve", () => {
  let srv, pc;
  before(async () => {
    srv = await startServer();
    pc = new Pinecone({ apiKey: "local", controllerHostUrl: srv.pcUrl, maxRetries: 0 });
  });
  after(async () => {
    assert.equal(await stopServer(srv), 0);
  });

  test("control plane: create, describe, list, conflicts, not found, bad requests", async () => {
    const model = await pc.createIndex({ name: "ctl", dimension: 4, metric: "euclidean", spec: SPEC,
      waitUntilReady: true });
    assert.equal(model.name, "ctl");
    assert.equal(model.dimension, 4);
    assert.equal(model.metric, "euclidean");
    assert.equal(model.status.ready, true);
    assert.equal(model.host, `${srv.pcUrl}/data/ctl`);
    const d = await pc.describeIndex("ctl");
    assert.equal(d.host, model.host);
    assert.equal(d.vectorType, "dense");
    const list = await pc.listIndexes();
    assert.deepEqual(list.indexes.map((i) => i.name), ["ctl"]);
    await assert.rejects(pc.createIndex({ name: "ctl", dimension: 4, spec: SPEC }), PineconeConflictError);
    // suppressConflicts: the client swallows the 409
    await pc.createIndex({ name: "ctl", dimension: 4, spec: SPEC, suppressConflicts: true });
    await assert.rejects(pc.describeIndex("nope"), PineconeNotFoundError);
    await assert.rejects(pc.createIndex({ name: "Bad_Name", dimension: 4, spec: SPEC }),
      (e) => e instanceof PineconeBadRequestError && /lower case alphanumeric/.test(e.message));
    await assert.rejects(pc.createIndex({ name: "big", dimension: 20001, spec: SPEC }), PineconeBadRequestError);
    await assert.rejects(pc.createIndex({ name: "sparse1", vectorType: "sparse", metric: "dotproduct", spec: SPEC }),
      (e) => e instanceof PineconeBadRequestError && /dense indexes only/.test(e.message));
    await pc.deleteIndex("ctl");
    await assert.rejects(pc.describeIndex("ctl"), PineconeNotFoundError);
    await assert.rejects(pc.deleteIndex("ctl"), PineconeNotFoundError);
  });

  test("deletion protection refuses delete with 403 (PineconeBadRequestError)", async () => {
    await pc.createIndex({ name: "keep", dimension: 2, spec: SPEC, deletionProtection: "enabled" });
    assert.equal((await pc.describeIndex("keep")).deletionProtection, "enabled");
    await assert.rejects(pc.deleteIndex("keep"),
      (e) => e instanceof PineconeBadRequestError && /Deletion protection/.test(e.message));
    assert.equal((await pc.describeIndex("keep")).name, "keep");
  });

  test("core flow: two namespaces, query by vector and id, fetch, update, list, stats, deletes", async () => {
    await pc.createIndex({ name: "docs", dimension: 3, metric: "cosine", spec: SPEC, waitUntilReady: true });
    const index = pc.index({ name: "docs" });
    await index.upsert({ records: [
      { id: "a", values: [1, 0, 0], metadata: { genre: "drama", year: 2001, tags: ["x", "y"] } },
      { id: "b", values: [0, 1, 0], metadata: { genre: "comedy", year: 1999 } },
      { id: "c", values: [0.9, 0.1, 0], metadata: { genre: "drama", year: 2010, tags: ["z"] } },
      { id: "d", values: [0, 0, 1] },
    ] });
    const other = index.namespace("ns1");
    await other.upsert({ records: [{ id: "a", values: [0, 0, 1], metadata: { genre: "other" } }] });

    // query by vector: cosine scores, best first
    let r = await index.query({ vector: [1, 0, 0], topK: 2, includeMetadata: true });
    assert.deepEqual(ids(r.matches), ["a", "c"]);
    approx(r.matches[0].score, 1);
    approx(r.matches[1].score, 0.9 / Math.hypot(0.9, 0.1));
    assert.deepEqual(r.matches[0].metadata, { genre: "drama", year: 2001, tags: ["x", "y"] });
    assert.equal(r.matches[0].values, undefined); // not asked for
    // filter with implicit equality
    r = await index.query({ vector: [1, 0, 0], topK: 5, filter: { genre: "comedy" } });
    assert.deepEqual(ids(r.matches), ["b"]);
    // query by id, values included (originals, not normalised)
    r = await index.query({ id: "c", topK: 1, includeValues: true });
    assert.equal(r.matches[0].id, "c");
    approx(r.matches[0].values[0], 0.9);
    approx(r.matches[0].values[1], 0.1);
    // namespaces are isolated
    r = await other.query({ vector: [1, 0, 0], topK: 10, includeMetadata: true });
    assert.deepEqual(ids(r.matches), ["a"]);
    assert.deepEqual(r.matches[0].metadata, { genre: "other" });
    // an unknown namespace is empty, not an error
    r = await index.namespace("never").query({ vector: [1, 0, 0], topK: 3 });
    assert.deepEqual(r.matches, []);
    // query by an unknown id: no matches
    r = await index.query({ id: "zzz", topK: 3 });
    assert.deepEqual(r.matches, []);

    // fetch: object keyed by id, unknown ids absent, metadata only where there is some
    const f = await index.fetch({ ids: ["a", "d", "missing"] });
    assert.deepEqual(Object.keys(f.records).sort(), ["a", "d"]);
    assert.deepEqual(f.records.a.values, [1, 0, 0]);
    assert.deepEqual(f.records.a.metadata, { genre: "drama", year: 2001, tags: ["x", "y"] });
    assert.equal(f.records.d.metadata, undefined);

    // update: setMetadata merges, values overwrite
    await index.update({ id: "a", metadata: { year: 2002, rating: 5 } });
    await index.update({ id: "b", values: [0, 0.5, 0.5] });
    const f2 = await index.fetch({ ids: ["a", "b"] });
    assert.deepEqual(f2.records.a.metadata, { genre: "drama", year: 2002, tags: ["x", "y"], rating: 5 });
    assert.deepEqual(f2.records.b.values, [0, 0.5, 0.5]);
    assert.deepEqual(f2.records.b.metadata, { genre: "comedy", year: 1999 });
    // update of an unknown id is a no-op
    await index.update({ id: "ghost", metadata: { x: 1 } });
    assert.deepEqual((await index.fetch({ ids: ["ghost"] })).records, {});
    // upsert replaces the whole record: old keys gone
    await index.upsert({ records: [{ id: "c", values: [0.9, 0.1, 0], metadata: { fresh: true } }] });
    assert.deepEqual((await index.fetch({ ids: ["c"] })).records.c.metadata, { fresh: true });
    r = await index.query({ vector: [1, 0, 0], topK: 5, filter: { genre: "drama" } });
    assert.deepEqual(ids(r.matches), ["a"]);

    // stats
    let st = await index.describeIndexStats();
    assert.equal(st.dimension, 3);
    assert.equal(st.totalRecordCount, 5);
    assert.deepEqual(st.namespaces, { __default__: { recordCount: 4 }, ns1: { recordCount: 1 } });
    st = await index.describeIndexStats({ filter: { genre: { $in: ["drama", "other"] } } });
    assert.deepEqual(st.namespaces, { __default__: { recordCount: 1 }, ns1: { recordCount: 1 } });
    assert.equal(st.totalRecordCount, 2);

    // deletes: one, many by id, by filter, all
    await index.deleteOne({ id: "d" });
    assert.deepEqual((await index.fetch({ ids: ["d"] })).records, {});
    await index.deleteMany({ filter: { genre: "comedy" } });
    assert.deepEqual(sortedIds((await index.query({ vector: [0, 1, 0], topK: 10 })).matches), ["a", "c"]);
    await index.deleteMany({ ids: ["a"] });
    assert.deepEqual(ids((await index.query({ vector: [0, 1, 0], topK: 10 })).matches), ["c"]);
    await other.deleteAll();
    st = await index.describeIndexStats();
    assert.deepEqual(st.namespaces, { __default__: { recordCount: 1 } });
    assert.equal(st.totalRecordCount, 1);
    await index.deleteAll();
    assert.equal((await index.describeIndexStats()).totalRecordCount, 0);
  });

  test("list: prefix, limit, pagination tokens, bytewise order", async () => {
    await pc.createIndex({ name: "lst", dimension: 2, spec: SPEC });
    const index = pc.index({ name: "lst" });
    const all = [];
    for (let i = 0; i < 23; i++) all.push(`doc#${String(i).padStart(2, "0")}`);
    all.push("other-1", "Doc#99");
    await index.upsert({ records: all.map((id, i) => ({ id, values: [1, i + 1] })) });
    const seen = [];
    let token;
    let pages = 0;
    for (let guard = 0; guard < 20; guard++) {
      const page = await index.listPaginated({ prefix: "doc#", limit: 5, paginationToken: token });
      pages++;
      assert.ok(page.vectors.length <= 5);
      seen.push(...page.vectors.map((v) => v.id));
      token = page.pagination?.next;
      if (!token) break;
    }
    assert.equal(pages, 5);
    assert.deepEqual(seen, all.filter((id) => id.startsWith("doc#")).sort());
    const whole = await index.listPaginated();
    assert.deepEqual(whole.vectors.map((v) => v.id), [...all].sort());
    assert.equal(whole.pagination, undefined);
    await assert.rejects(index.listPaginated({ paginationToken: "not-a-token" }), PineconeBadRequestError);
  });

  test("filter language with Pinecone's rules ($ne/$nin need the key, lists match any element)", async () => {
    await pc.createIndex({ name: "flt", dimension: 2, metric: "euclidean", spec: SPEC });
    const index = pc.index({ name: "flt" });
    await index.upsert({ records: [
      { id: "r1", values: [0, 1], metadata: { color: "red", n: 1, tags: ["a", "b"], ok: true } },
      { id: "r2", values: [0, 2], metadata: { color: "blue", n: 2.5, tags: ["c"] } },
      { id: "r3", values: [0, 3], metadata: { color: "red", n: 3, ok: false } },
      { id: "r4", values: [0, 4], metadata: { n: 4 } },
      { id: "r5", values: [0, 5] },
    ] });
    const q = async (filter) => sortedIds((await index.query({ vector: [0, 0], topK: 10, filter })).matches);
    assert.deepEqual(await q({ color: "red" }), ["r1", "r3"]);
    assert.deepEqual(await q({ color: { $eq: "red" } }), ["r1", "r3"]);
    assert.deepEqual(await q({ color: { $ne: "red" } }), ["r2"]); // r4, r5 lack the key
    assert.deepEqual(await q({ n: { $gt: 2 } }), ["r2", "r3", "r4"]);
    assert.deepEqual(await q({ n: { $gte: 2.5, $lt: 4 } }), ["r2", "r3"]);
    assert.deepEqual(await q({ n: { $lte: 1 } }), ["r1"]);
    assert.deepEqual(await q({ n: { $in: [1, 4] } }), ["r1", "r4"]);
    assert.deepEqual(await q({ n: { $nin: [1, 4] } }), ["r2", "r3"]); // r5 lacks n
    assert.deepEqual(await q({ tags: "b" }), ["r1"]); // a list matches any element
    assert.deepEqual(await q({ tags: { $in: ["c", "zz"] } }), ["r2"]);
    assert.deepEqual(await q({ tags: { $nin: ["a"] } }), ["r2"]); // r1 has a; others lack tags
    assert.deepEqual(await q({ tags: { $ne: "c" } }), ["r1"]);
    assert.deepEqual(await q({ ok: true }), ["r1"]);
    assert.deepEqual(await q({ ok: { $exists: true } }), ["r1", "r3"]);
    assert.deepEqual(await q({ tags: { $exists: false } }), ["r3", "r4", "r5"]);
    assert.deepEqual(await q({ $or: [{ color: "blue" }, { n: { $gte: 4 } }] }), ["r2", "r4"]);
    assert.deepEqual(await q({ $and: [{ color: "red" }, { n: { $gt: 1 } }] }), ["r3"]);
    assert.deepEqual(await q({ color: "red", ok: false }), ["r3"]); // several keys are ANDed
    assert.deepEqual(await q({ $or: [{ $and: [{ color: "red" }, { ok: true }] }, { n: 4 }] }), ["r1", "r4"]);
    // mixed-type $in
    assert.deepEqual(await q({ color: { $in: ["blue", 7] } }), ["r2"]);
    // euclidean: the score is the squared distance, smallest first
    const r = await index.query({ vector: [0, 0], topK: 2 });
    assert.deepEqual(ids(r.matches), ["r1", "r2"]);
    approx(r.matches[0].score, 1);
    approx(r.matches[1].score, 4);
    // bad filters are 400s with the operator named
    await assert.rejects(index.query({ vector: [0, 0], topK: 1, filter: { n: { $regex: "x" } } }),
      (e) => e instanceof PineconeBadRequestError && /\$regex/.test(e.message));
    await assert.rejects(index.query({ vector: [0, 0], topK: 1, filter: { n: { $gt: "x" } } }),
      (e) => e instanceof PineconeBadRequestError && /\$gt/.test(e.message));
    await assert.rejects(index.query({ vector: [0, 0], topK: 1, filter: { __pc_keys: "n" } }),
      PineconeBadRequestError);
  });

  test("filtered topK is honoured on a larger namespace (matches brute force)", async () => {
    await pc.createIndex({ name: "big", dimension: 8, metric: "dotproduct", spec: SPEC });
    const index = pc.index({ name: "big" });
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
    const recs = [];
    for (let i = 0; i < 600; i++) {
      recs.push({ id: `v${i}`, values: Array.from({ length: 8 }, rnd), metadata: { bucket: i % 7, label: `l${i % 3}` } });
    }
    for (let i = 0; i < recs.length; i += 200) await index.upsert({ records: recs.slice(i, i + 200) });
    const qv = Array.from({ length: 8 }, rnd);
    const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
    const want = recs.filter((r) => r.metadata.bucket === 3 && r.metadata.label !== "l1")
      .map((r) => ({ id: r.id, s: dot(r.values, qv) })).sort((a, b) => b.s - a.s).slice(0, 15);
    const r = await index.query({ vector: qv, topK: 15, filter: { bucket: 3, label: { $ne: "l1" } } });
    assert.equal(r.matches.length, 15);
    assert.deepEqual(ids(r.matches), want.map((w) => w.id));
    r.matches.forEach((m, i) => approx(m.score, want[i].s, 1e-4));
  });

  test("sparse-dense: stored, fetched, scored as dense dot + sparse dot; dotproduct only", async () => {
    await pc.createIndex({ name: "hyb", dimension: 2, metric: "dotproduct", spec: SPEC });
    const index = pc.index({ name: "hyb" });
    await index.upsert({ records: [
      { id: "s1", values: [0.1, 0], sparseValues: { indices: [10, 3], values: [0.5, 2] }, metadata: { k: "a" } },
      { id: "s2", values: [0.5, 0], sparseValues: { indices: [7], values: [1] }, metadata: { k: "b" } },
      { id: "s3", values: [0.3, 0] },
    ] });
    const f = await index.fetch({ ids: ["s1", "s3"] });
    assert.deepEqual(f.records.s1.sparseValues, { indices: [3, 10], values: [2, 0.5] });
    assert.equal(f.records.s3.sparseValues, undefined);
    assert.deepEqual(f.records.s1.metadata, { k: "a" }); // bookkeeping never shown
    // dense only: s2 (0.5) > s3 (0.3) > s1 (0.1)
    let r = await index.query({ vector: [1, 0], topK: 3 });
    assert.deepEqual(ids(r.matches), ["s2", "s3", "s1"]);
    // hybrid: s1 = 0.1 + 2*3 + 0.5*1 = 6.6, s2 = 0.5 + 0, s3 = 0.3
    r = await index.query({ vector: [1, 0], sparseVector: { indices: [3, 10, 99], values: [3, 1, 5] }, topK: 3,
      includeValues: true, includeMetadata: true });
    assert.deepEqual(ids(r.matches), ["s1", "s2", "s3"]);
    approx(r.matches[0].score, 6.6);
    approx(r.matches[1].score, 0.5);
    assert.deepEqual(r.matches[0].sparseValues, { indices: [3, 10], values: [2, 0.5] });
    assert.deepEqual(r.matches[0].metadata, { k: "a" });
    // hybrid with a filter and topK 1
    r = await index.query({ vector: [1, 0], sparseVector: { indices: [7], values: [10] }, topK: 1, filter: { k: { $exists: true } } });
    assert.deepEqual(ids(r.matches), ["s2"]);
    approx(r.matches[0].score, 10.5);
    // update sparse values
    await index.update({ id: "s3", sparseValues: { indices: [7], values: [4] } });
    r = await index.query({ vector: [0, 0], sparseVector: { indices: [7], values: [1] }, topK: 1 });
    assert.deepEqual(ids(r.matches), ["s3"]);
    approx(r.matches[0].score, 4);
    // a sparse filter key cannot see the bookkeeping
    await assert.rejects(index.query({ vector: [1, 0], topK: 1, filter: { __pc_si: 3 } }), PineconeBadRequestError);
    // sparse on a non-dotproduct index: Pinecone's error
    await pc.createIndex({ name: "cos", dimension: 2, metric: "cosine", spec: SPEC });
    const cos = pc.index({ name: "cos" });
    const msg = /only indexes that are configured to use the dotproduct metric support sparse values/;
    await assert.rejects(cos.upsert({ records: [{ id: "x", values: [1, 0], sparseValues: { indices: [1], values: [1] } }] }),
      (e) => e instanceof PineconeBadRequestError && msg.test(e.message));
    await assert.rejects(cos.query({ vector: [1, 0], sparseVector: { indices: [1], values: [1] }, topK: 1 }),
      (e) => e instanceof PineconeBadRequestError && msg.test(e.message));
    await assert.rejects(index.upsert({ records: [{ id: "x", values: [1, 0], sparseValues: { indices: [1, 1], values: [1, 2] } }] }),
      (e) => e instanceof PineconeBadRequestError && /more than once/.test(e.message));
  });

  test("hybrid ranking matches brute force over random sparse-dense records", async () => {
    await pc.createIndex({ name: "hyb-big", dimension: 4, metric: "dotproduct", spec: SPEC });
    const index = pc.index({ name: "hyb-big" });
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const sparse = (nnz) => {
      const idx = new Set();
      while (idx.size < nnz) idx.add(Math.floor(rnd() * 5000000));
      const indices = [...idx];
      return { indices, values: indices.map(() => Math.fround(rnd() * 4 - 1)) };
    };
    const recs = [];
    for (let i = 0; i < 1500; i++) {
      const sv = i % 5 === 0 ? undefined : sparse(1 + (i % 40));
      recs.push({ id: `h${i}`, values: [rnd(), rnd(), rnd(), rnd()].map((x) => Math.fround(x - 0.5)),
        ...(sv ? { sparseValues: sv } : {}), metadata: { odd: i % 2 === 1 } });
    }
    for (let i = 0; i < recs.length; i += 500) await index.upsert({ records: recs.slice(i, i + 500) });
    // the query shares indices with some records
    const qi = [...new Set(recs.slice(1, 400).filter((r) => r.sparseValues).map((r) => r.sparseValues.indices[0]))];
    const q = { indices: qi, values: qi.map(() => Math.fround(rnd() * 2)) };
    const qd = [0.3, -0.2, 0.5, 0.1];
    const score = (r) => {
      let s = r.values.reduce((a, x, i) => a + x * Math.fround(qd[i]), 0);
      if (r.sparseValues) r.sparseValues.indices.forEach((ix, j) => {
        const k = q.indices.indexOf(ix);
        if (k >= 0) s += r.sparseValues.values[j] * q.values[k];
      });
      return s;
    };
    for (const filter of [undefined, { odd: true }]) {
      const pool = filter ? recs.filter((r) => r.metadata.odd) : recs;
      const want = pool.map((r) => ({ id: r.id, s: score(r) })).sort((a, b) => b.s - a.s).slice(0, 12);
      const r = await index.query({ vector: qd, sparseVector: q, topK: 12, ...(filter ? { filter } : {}),
        includeValues: true });
      assert.deepEqual(ids(r.matches), want.map((w) => w.id));
      r.matches.forEach((m, i) => approx(m.score, want[i].s, 1e-4));
      const rec = recs.find((x) => x.id === r.matches[0].id);
      if (rec.sparseValues) {
        const order = rec.sparseValues.indices.map((ix, j) => [ix, rec.sparseValues.values[j]]).sort((a, b) => a[0] - b[0]);
        assert.deepEqual(r.matches[0].sparseValues.indices, order.map((p) => p[0]));
        r.matches[0].sparseValues.values.forEach((v, j) => approx(v, order[j][1], 1e-6));
      }
    }
  });

  test("update by filter and errors mapped to the client's classes", async () => {
    await pc.createIndex({ name: "err", dimension: 3, spec: SPEC });
    const index = pc.index({ name: "err" });
    await index.upsert({ records: [
      { id: "e1", values: [1, 0, 0], metadata: { g: "x" } },
      { id: "e2", values: [0, 1, 0], metadata: { g: "x" } },
      { id: "e3", values: [0, 0, 1], metadata: { g: "y" } },
    ] });
    await index.update({ filter: { g: "x" }, metadata: { seen: true } });
    const f = await index.fetch({ ids: ["e1", "e2", "e3"] });
    assert.equal(f.records.e1.metadata.seen, true);
    assert.equal(f.records.e2.metadata.seen, true);
    assert.equal(f.records.e3.metadata.seen, undefined);
    await assert.rejects(index.upsert({ records: [{ id: "bad", values: [1, 2] }] }),
      (e) => e instanceof PineconeBadRequestError &&
        /Vector dimension 2 does not match the dimension of the index 3/.test(e.message));
    await assert.rejects(index.query({ vector: [1, 2], topK: 1 }), PineconeBadRequestError);
    await assert.rejects(index.upsert({ records: [{ id: "m", values: [1, 0, 0], metadata: { nested: { a: 1 } } }] }),
      (e) => e instanceof PineconeBadRequestError && /nested/.test(e.message));
    await assert.rejects(index.upsert({ records: [{ id: "m", values: [1, 0, 0], metadata: { __pc_keys: "x" } }] }),
      (e) => e instanceof PineconeBadRequestError && /reserved/.test(e.message));
    // data plane of an index that does not exist
    const ghost = pc.index({ host: `${srv.pcUrl}/data/ghost` });
    await assert.rejects(ghost.query({ vector: [1, 0, 0], topK: 1 }), PineconeNotFoundError);
  });

  test("namespace routes: list (prefix, pages), create, describe, delete", async () => {
    await pc.createIndex({ name: "nsr", dimension: 2, spec: SPEC });
    const index = pc.index({ name: "nsr" });
    for (const ns of ["t-a", "t-b", "t-c", "other"]) {
      await index.namespace(ns).upsert({ records: [{ id: "1", values: [1, 0] }, { id: `${ns}-2`, values: [0, 1] }] });
    }
    await index.upsert({ records: [{ id: "d", values: [1, 1] }] });
    const all = await index.listNamespaces();
    assert.deepEqual(all.namespaces.map((n) => [n.name, n.recordCount]),
      [["__default__", 1], ["other", 2], ["t-a", 2], ["t-b", 2], ["t-c", 2]]);
    assert.equal(all.totalCount, 5);
    const p1 = await index.listNamespaces({ prefix: "t-", limit: 2 });
    assert.deepEqual(p1.namespaces.map((n) => n.name), ["t-a", "t-b"]);
    const p2 = await index.listNamespaces({ prefix: "t-", limit: 2, paginationToken: p1.pagination.next });
    assert.deepEqual(p2.namespaces.map((n) => n.name), ["t-c"]);
    assert.equal(p2.pagination, undefined);
    assert.equal((await index.describeNamespace("t-b")).recordCount, 2);
    await assert.rejects(index.describeNamespace("nope"), PineconeNotFoundError);
    const made = await index.createNamespace({ name: "fresh" });
    assert.equal(made.name, "fresh");
    assert.equal(made.recordCount, 0);
    await assert.rejects(index.createNamespace({ name: "fresh" }), PineconeConflictError);
    await index.deleteNamespace("t-a");
    await assert.rejects(index.deleteNamespace("t-a"), PineconeNotFoundError);
    assert.deepEqual((await index.listNamespaces()).namespaces.map((n) => n.name),
      ["__default__", "fresh", "other", "t-b", "t-c"]);
    // stats leave the empty namespace out
    assert.deepEqual(Object.keys((await index.describeIndexStats()).namespaces).sort(),
      ["__default__", "other", "t-b", "t-c"]);
  });

  test("Option A: pc.index({ host }) reaches the data plane without a control-plane call", async () => {
    await pc.createIndex({ name: "direct", dimension: 2, spec: SPEC });
    const pc2 = new Pinecone({ apiKey: "local", maxRetries: 0 }); // no controllerHostUrl at all
    const index = pc2.index({ host: `${srv.pcUrl}/data/direct` });
    await index.upsert({ records: [{ id: "p", values: [1, 1] }] });
    const r = await index.query({ vector: [1, 1], topK: 1 });
    assert.deepEqual(ids(r.matches), ["p"]);
  });

  test("cross-face: a namespace is a Chroma collection (tenant pinecone, database = index)", async () => {
    await pc.createIndex({ name: "cross", dimension: 3, metric: "dotproduct", spec: SPEC });
    const index = pc.index({ name: "cross" });
    await index.upsert({ records: [{ id: "c1", values: [1, 2, 3], metadata: { lang: "en" } }] });
    await index.namespace("books").upsert({ records: [{ id: "b1", values: [3, 2, 1], metadata: { lang: "fr" } }] });
    const base = `${srv.url}/api/v2/tenants/pinecone/databases/cross/collections`;
    const cols = await (await fetch(base)).json();
    assert.deepEqual(cols.map((c) => c.name).sort(), ["__default__", "books"]);
    const books = cols.find((c) => c.name === "books");
    assert.equal(books.dimension, 3);
    assert.equal(books.configuration_json.hnsw.space, "ip");
    const got = await (await fetch(`${base}/${books.id}/get`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ include: ["embeddings", "metadatas"] }),
    })).json();
    assert.deepEqual(got.ids, ["b1"]);
    assert.deepEqual(got.embeddings, [[3, 2, 1]]);
    assert.equal(got.metadatas[0].lang, "fr");
    assert.deepEqual(got.metadatas[0].__pc_keys, ["lang"]);
    // by name too, for a namespace that follows Chroma's naming rules
    const byName = await (await fetch(`${base}/books`)).json();
    assert.equal(byName.id, books.id);
    // and a Chroma query on it finds the Pinecone record
    const q = await (await fetch(`${base}/${books.id}/query`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ query_embeddings: [[3, 2, 1]], n_results: 1 }),
    })).json();
    assert.deepEqual(q.ids, [["b1"]]);
    // deleting the index drops its namespaces
    await pc.deleteIndex("cross");
    const after = await fetch(`${base}/${books.id}/get`, { method: "POST", body: "{}",
      headers: { "content-type": "application/json" } });
    assert.equal(after.status, 404);
  });
});

describe("Api-Key auth with --token", () => {
  let srv;
  before(async () => {
    srv = await startServer(["--token", "s3cret"]);
  });
  after(async () => {
    assert.equal(await stopServer(srv), 0);
  });

  test("a wrong or missing key is PineconeAuthorizationError; the right one works", async () => {
    const bad = new Pinecone({ apiKey: "wrong", controllerHostUrl: srv.pcUrl, maxRetries: 0 });
    await assert.rejects(bad.listIndexes(), PineconeAuthorizationError);
    await assert.rejects(bad.createIndex({ name: "a1", dimension: 2, spec: SPEC }), PineconeAuthorizationError);
    const good = new Pinecone({ apiKey: "s3cret", controllerHostUrl: srv.pcUrl, maxRetries: 0 });
    await good.createIndex({ name: "a1", dimension: 2, spec: SPEC });
    await good.index({ name: "a1" }).upsert({ records: [{ id: "x", values: [1, 0] }] });
    const badData = bad.index({ host: `${srv.pcUrl}/data/a1` });
    await assert.rejects(badData.query({ vector: [1, 0], topK: 1 }), PineconeAuthorizationError);
    const raw = await fetch(`${srv.pcUrl}/data/a1/query`, { method: "POST", body: "{}" });
    assert.equal(raw.status, 401);
    assert.equal((await raw.json()).code, 16);
    const r = await good.index({ name: "a1" }).query({ vector: [1, 0], topK: 1 });
    assert.deepEqual(ids(r.matches), ["x"]);
  });
});
