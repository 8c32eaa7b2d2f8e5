#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
# write_loop.py URL1 URL2 URL3 SECONDS -- 1-record upserts round-robin over three nodes for SECONDS,
# printing every failed or slow (> 1 s) write; then the count on each node and how many
# acknowledged ids a get finds. For fault experiments by hand (kill a NATS server meanwhile).
import json, sys, time, urllib.request, urllib.error
urls = sys.argv[1:4]; secs = float(sys.argv[4])
B = "/api/v2/tenants/default_tenant/databases/default_database"
def call(u, p, body=None, m="POST"):
    r = urllib.request.Request(u + p, data=json.dumps(body).encode() if body is not None else None, method=m)
    try:
        with urllib.request.urlopen(r, timeout=30) as x: return x.status, json.loads(x.read() or b"null")
    except urllib.error.HTTPError as e: return e.code, e.read().decode()[:150]
    except Exception as e: return -1, str(e)[:100]
st, c = call(urls[0], B + "/collections", {"name": f"wloop{int(time.time() * 1000)}"})
cid = c["id"]; t0 = time.time(); i = 0; acked = []
while time.time() - t0 < secs:
    u = urls[i % 3]; t = time.time()
    st, body = call(u, f"{B}/collections/{cid}/upsert", {"ids": [f"w{i}"], "embeddings": [[float(i), 1.0]]})
    dt = time.time() - t
    if st == 200: acked.append(f"w{i}")
    if st != 200 or dt > 1: print(f"t={t-t0:.1f} i={i} node={i%3} st={st} dt={dt:.2f} {body}", flush=True)
    i += 1
print("writes", i, "acked", len(acked))
time.sleep(3)
for u in urls:
    st, n = call(u, f"{B}/collections/{cid}/count", m="GET"); print(u, "count", st, n)
st, got = call(urls[0], f"{B}/collections/{cid}/get", {"ids": acked})
print("acked present", len(got["ids"]) if isinstance(got, dict) else got, "of", len(acked))
