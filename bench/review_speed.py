"""How the review page's API answers as a run grows (issue 18): times of the list, a
search, one record and one action on runs of N classification records, side by side in
one process.

    .venv/bin/python bench/review_speed.py --sizes 1000,10000,100000

The records are copies of a real run's records (``--from``, default a fresh
``tests/review_fixtures.classification_run``), each with its own text and id; the server is
the Starlette app in-process (no HTTP socket), so the times are the server's work only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.testclient import TestClient  # noqa: E402

from synthloom.records import append_jsonl, read_jsonl, record_id  # noqa: E402
from synthloom.review.server import make_app  # noqa: E402
from tests.review_fixtures import classification_run  # noqa: E402

TOKEN = "bench"
H = {"X-Review-Token": TOKEN}


def build(base: Path, n: int, out: Path) -> Path:
    """A run folder with ``n`` accepted records made from ``base``'s (texts numbered)."""
    records = list(read_jsonl(base / "data.jsonl"))
    out.mkdir(parents=True)
    (out / "run.json").write_bytes((base / "run.json").read_bytes())
    made = []
    for i in range(n):
        r = records[i % len(records)]
        inputs = {"text": f"{r.inputs['text']} (copy {i})"}
        made.append(r.model_copy(update={"inputs": inputs, "id": record_id(
            r.task, inputs, r.label, r.outputs)}))
    append_jsonl(out / "data.jsonl", made)
    (out / "rejected.jsonl").write_text("")
    return out


def timed(call, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        response = call()
        best = min(best, time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--from", dest="base", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.base or classification_run(Path(tmp) / "base")
        print("| records | load (s) | list page (s) | search (s) | one record (s) | "
              "one edit (s) | list after 100 actions (s) |")
        print("|---|---|---|---|---|---|---|")
        for n in (int(x) for x in args.sizes.split(",")):
            run = build(base, n, Path(tmp) / f"run{n}")
            print(measure(run, n), flush=True)


def measure(run: Path, n: int) -> str:
    """One table row: the API's times on ``run`` (best of 3, the edit once)."""
    start = time.perf_counter()
    client = TestClient(make_app(run, TOKEN, "bench"))
    load = time.perf_counter() - start
    first = client.get("/api/records?limit=1", headers=H).json()["rows"][0]["id"]
    page = timed(lambda: client.get("/api/records?limit=50", headers=H))
    search = timed(lambda: client.get("/api/records?q=refund+copy", headers=H))
    one = timed(lambda: client.get(f"/api/records/{first}", headers=H))
    edit = timed(lambda: client.post("/api/actions", headers=H, json={
        "record": first, "action": "edit", "field": "trust_weight", "value": 0.5}), 1)
    for row in client.get("/api/records?limit=100", headers=H).json()["rows"]:
        client.post("/api/actions", headers=H, json={
            "record": row["id"], "action": "edit", "field": "trust_weight", "value": 0.9})
    after = timed(lambda: client.get("/api/records?limit=50", headers=H))
    return (f"| {n:,} | {load:.2f} | {page:.3f} | {search:.3f} | {one:.3f} | {edit:.3f} | "
            f"{after:.3f} |")

if __name__ == "__main__":
    main()
