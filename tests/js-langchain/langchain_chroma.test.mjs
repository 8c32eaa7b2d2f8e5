// SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
//
// langchain_chroma.test.mjs -- LangChain JS's Chroma vector store (@langchain/community 1.1.29,
// over the official chromadb 3.5.0 client), unchanged, against a freshly started `quiver serve`:
// add documents, similarity search with scores, metadata filters, delete, a retriever, and
// reopening the collection from a second store. Embeddings come from HashEmbeddings below, a
// local deterministic embedding (hashed bag of words), so nothing is downloaded and every score
// can be checked against a distance computed here.
//
// LlamaIndex TS is not tested: its Chroma store (@llamaindex/chroma 0.0.37, the newest) pins
// chromadb 1.10.3, a client of Chroma's v1 API (/api/v1/...), which quiver answers with 410 as
// Chroma's own 1.x server does; it does not work with the chromadb 3.x client.
//
// Run: cd tests/js-langchain && npm install && node --test   (QUIVER_BIN overrides ../../build/quiver)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { webcrypto } from "node:crypto";

// Node 18 (Debian bookworm's nodejs) has no global `crypto`; LangChain's fromTexts calls
// crypto.randomUUID() through it. Node 20 has it already.
if (!globalThis.crypto) globalThis.crypto = webcrypto;
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Chroma } from "@langchain/community/vectorstores/chroma";
import { Embeddings } from "@langchain/core/embeddings";
import { Document } from "@langchain/core/documents";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.QUIVER_BIN ? resolve(process.env.QUIVER_BIN) : resolve(here, "../../build/quiver");

// ------------------------------------------------------------------ the embedding function

const DIM = 64;

/** FNV-1a, 32 bits. */
function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Hashed bag of words: each lower-cased word adds +-1 to one of DIM slots; L2-normalised. */
export function hashEmbed(text) {
  const v = new Array(DIM).fill(0);
  for (const w of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    const h = fnv1a(w);
    v[h % DIM] += (h >>> 31) ? -1 : 1;
  }
  const n = Math.hypot(...v);
  return n > 0 ? v.map((x) => x / n) : v;
}

class HashEmbeddings extends Embeddings {
  constructor() {
    super({});
    this.calls = 0;
  }
  async embedDocuments(texts) {
    this.calls++;
    return texts.map(hashEmbed);
  }
  async embedQuery(text) {
    this.calls++;
    return hashEmbed(text);
  }
}

function cosineDistance(a, b) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return 1 - dot / Math.sqrt(na * nb);
}

// ------------------------------------------------------------------ the server

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

async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), "quiver-langchain-"));
  const port = await freePort();
  const proc = spawn(BIN, ["serve", "--data", join(dir, "data"), "--port", String(port),
    "--log-level", "warn"], { stdio: ["ignore", "inherit", "inherit"] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${url}/api/v2/heartbeat`);
      if (r.ok) return { proc, dir, url };
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

// ------------------------------------------------------------------ the corpus

const CORPUS = [
  ["bake", "Bake the bread in a hot oven until the crust is golden brown", { topic: "cooking", year: 2019 }],
  ["pasta", "Boil the pasta in salted water and toss it with garlic and olive oil", { topic: "cooking", year: 2023 }],
  ["soup", "Simmer the tomato soup slowly and season it with basil", { topic: "cooking", year: 2021 }],
  ["hnsw", "HNSW builds a layered graph for approximate nearest neighbour search", { topic: "vectors", year: 2018 }],
  ["cosine", "Cosine distance compares the angle between two embedding vectors", { topic: "vectors", year: 2022 }],
  ["rag", "Retrieval augmented generation feeds retrieved documents to a language model", { topic: "vectors", year: 2024 }],
  ["tide", "The tide rises twice a day because of the moon", { topic: "nature", year: 2020 }],
  ["fern", "Ferns grow in shade and reproduce with spores instead of seeds", { topic: "nature", year: 2017 }],
];
const docs = CORPUS.map(([, text, metadata]) => new Document({ pageContent: text, metadata }));
const ids = CORPUS.map(([id]) => id);
const byId = Object.fromEntries(CORPUS.map(([id, text, metadata]) => [id, { text, metadata }]));

/** The expected ranking: cosine distances computed here, over the given ids; k first + all. */
function expected(query, among, k) {
  const q = hashEmbed(query);
  const all = among.map((id) => [id, cosineDistance(q, hashEmbed(byId[id].text))])
    .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  return { want: all.slice(0, k), all };
}

function assertResults(got, { want, all }) {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    const [doc, score] = got[i];
    // ties (the same distance, within float32 rounding) may come in either order
    const tie = all.filter(([, d]) => Math.abs(d - want[i][1]) < 1e-5).map(([id]) => id);
    assert.ok(tie.includes(doc.id), `rank ${i}: got ${doc.id}, want one of ${tie}`);
    assert.ok(Math.abs(score - want[i][1]) < 1e-4, `rank ${i}: score ${score}, want ${want[i][1]}`);
    assert.equal(doc.pageContent, byId[doc.id].text);
    assert.deepEqual(doc.metadata, byId[doc.id].metadata);
  }
}

// ------------------------------------------------------------------ the flow

describe("LangChain JS Chroma vector store against quiver serve", () => {
  let srv, embeddings, store;
  const collectionName = "langchain-docs";

  before(async () => {
    srv = await startServer();
    embeddings = new HashEmbeddings();
  });
  after(async () => {
    assert.equal(await stopServer(srv), 0);
  });

  test("the embedding is deterministic and normalised", () => {
    const a = hashEmbed("Bake the bread"), b = hashEmbed("bake THE bread!");
    assert.deepEqual(a, b);
    assert.ok(Math.abs(Math.hypot(...a) - 1) < 1e-12);
    assert.equal(a.length, DIM);
    assert.notDeepEqual(a, hashEmbed("the tide rises"));
  });

  test("add documents (cosine collection, our ids)", async () => {
    store = new Chroma(embeddings, { collectionName, url: srv.url, collectionMetadata: { "hnsw:space": "cosine" } });
    assert.deepEqual(await store.addDocuments(docs, { ids }), ids);
    assert.equal(await store.collection.count(), CORPUS.length);
    const meta = await store.collection.get({ ids: ["soup"], include: ["metadatas", "documents"] });
    assert.deepEqual(meta.metadatas, [byId.soup.metadata]);
    assert.deepEqual(meta.documents, [byId.soup.text]);
  });

  test("fromTexts: LangChain's own uuid ids, another collection", async () => {
    const other = await Chroma.fromTexts(["alpha beta", "gamma delta"], [{ n: 1 }, { n: 2 }], embeddings,
      { collectionName: "langchain-other", url: srv.url });
    assert.equal(await other.collection.count(), 2);
    const [[d, score]] = await other.similaritySearchWithScore("gamma delta", 1);
    assert.match(d.id, /^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-/);   // uuid v1
    assert.deepEqual(d.metadata, { n: 2 });
    // the default space is l2: squared euclidean between unit vectors, here the same vector
    assert.ok(Math.abs(score) < 1e-5);
  });

  test("similarity search with scores ranks as the cosine distances computed here", async () => {
    for (const q of ["how long to bake bread in the oven", "nearest neighbour graph search",
                     "why does the tide rise", "olive oil and garlic pasta"]) {
      const got = await store.similaritySearchWithScore(q, 3);
      assertResults(got, expected(q, ids, 3));
    }
    const [[top, score]] = await store.similaritySearchWithScore(byId.fern.text, 1);
    assert.equal(top.id, "fern");
    assert.ok(Math.abs(score) < 1e-5, `distance of a document to itself: ${score}`);
    const plain = await store.similaritySearch("golden crust bread oven", 2);
    assert.equal(plain[0].id, "bake");
  });

  test("metadata filters: equality, $gte, $and, $in", async () => {
    const q = "documents and embedding vectors";
    const cooking = await store.similaritySearchWithScore(q, 10, { topic: "cooking" });
    assertResults(cooking, expected(q, ["bake", "pasta", "soup"], 10));
    const recent = await store.similaritySearchWithScore(q, 10, { year: { $gte: 2022 } });
    assertResults(recent, expected(q, ["pasta", "cosine", "rag"], 10));
    const both = await store.similaritySearchWithScore(q, 10,
      { $and: [{ topic: "vectors" }, { year: { $lt: 2022 } }] });
    assertResults(both, expected(q, ["hnsw"], 10));
    const some = await store.similaritySearchWithScore(q, 2, { topic: { $in: ["nature", "cooking"] } });
    assertResults(some, expected(q, ["bake", "pasta", "soup", "tide", "fern"], 2));
    assert.deepEqual(await store.similaritySearchWithScore(q, 5, { topic: "none" }), []);
  });

  test("a retriever (the RAG step) returns the context documents", async () => {
    const retriever = store.asRetriever({ k: 2, filter: { topic: "vectors" } });
    const ctx = await retriever.invoke("what does retrieval augmented generation feed to a model");
    assert.equal(ctx.length, 2);
    assert.equal(ctx[0].id, "rag");
    assert.ok(ctx.every((d) => d.metadata.topic === "vectors"));
  });

  test("delete by ids and by filter", async () => {
    await store.delete({ ids: ["bake", "hnsw"] });
    assert.equal(await store.collection.count(), CORPUS.length - 2);
    const q = "bake bread in a hot oven";
    const got = await store.similaritySearchWithScore(q, 10);
    const left = ids.filter((id) => id !== "bake" && id !== "hnsw");
    assertResults(got, expected(q, left, 10));

    await store.delete({ filter: { topic: "nature" } });
    assert.equal(await store.collection.count(), CORPUS.length - 4);
    const rest = await store.similaritySearchWithScore("the moon and the tide", 10);
    assert.ok(rest.every(([d]) => d.metadata.topic !== "nature"));
    await assert.rejects(store.delete({}), /ids or/);
  });

  test("a second store opens the same collection (fromExistingCollection)", async () => {
    const again = await Chroma.fromExistingCollection(new HashEmbeddings(), { collectionName, url: srv.url });
    assert.equal(await again.collection.count(), CORPUS.length - 4);
    const [[d]] = await again.similaritySearchWithScore("garlic olive oil pasta", 1);
    assert.equal(d.id, "pasta");
    assert.equal(d.metadata.year, 2023);
  });
});
