# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""The writer process of test_durability.py (not a test itself).

    durability_writer.py DATA_DIR SYNC MAX_BATCHES

Opens DATA_DIR, continues after the last complete batch, and adds batches of BATCH records
with deterministic content (see batch()), printing "ACK <batch_no>" and flushing right after
each add returns. The parent kills it with SIGKILL at random moments. Prints "READY <first>"
once the database is open and "DONE" after a clean close.
"""
import os
import sys

BATCH = 50
DIM = 8
COLLECTION = "dur"


def batch(b):
    """ids, embeddings, metadatas, documents of batch b (shared with the checker)."""
    ids = [f"b{b}-r{i}" for i in range(BATCH)]
    emb = [[float(b), float(i)] + [((b * 131 + i * 17 + j * 7) % 97) / 8.0 for j in range(DIM - 2)]
           for i in range(BATCH)]
    metas = [{"batch": b, "i": i, "tag": f"t{(b + i) % 3}", "even": i % 2 == 0} for i in range(BATCH)]
    docs = [f"document {i} of batch {b}" for i in range(BATCH)]
    return ids, emb, metas, docs


def main():
    sys.path.insert(0, os.environ["QUIVER_BUILD"])
    import quiver

    path, sync, max_batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = quiver.Database(path, sync=sync)
    col = db.get_or_create_collection(COLLECTION, DIM)
    n = col.count()
    if n % BATCH:
        print(f"PARTIAL {n}", flush=True)  # a partial batch survived: the checker reports it
        sys.exit(3)
    first = n // BATCH
    print(f"READY {first}", flush=True)
    for b in range(first, first + max_batches):
        ids, emb, metas, docs = batch(b)
        col.add(ids, emb, metadatas=metas, documents=docs)
        sys.stdout.write(f"ACK {b}\n")
        sys.stdout.flush()
    db.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
