"""The human review page (synthloom.review): token, loading, filters, actions, the review
log, export --with-reviews, calibration and best_threshold. No model is loaded."""

from __future__ import annotations

import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sklearn.metrics import cohen_kappa_score
from starlette.testclient import TestClient
from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.errors import UserInputError
from synthloom.evaluate.calibration import best_threshold
from synthloom.records import Record
from synthloom.review import ReviewAction, ReviewLog, load_review_run
from synthloom.review.calibrate import blind_sample, blind_view
from synthloom.review.log import now
from synthloom.review.server import bind, make_app, running
from tests.review_fixtures import classification_run, tool_dialogue_run

TOKEN = "s3cret-token"
H = {"X-Review-Token": TOKEN}
runner = CliRunner()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return classification_run(tmp_path / "run")


@pytest.fixture
def client(run_dir: Path) -> TestClient:
    return TestClient(make_app(run_dir, TOKEN, "ana"))


def accepted_ids(run_dir: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (run_dir / "data.jsonl").read_text().splitlines()]


def files(run_dir: Path) -> tuple[bytes, bytes]:
    return (run_dir / "data.jsonl").read_bytes(), (run_dir / "rejected.jsonl").read_bytes()


def logged(run_dir: Path) -> list[dict]:
    path = run_dir / "reviews.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def post(client: TestClient, **body):
    return client.post("/api/actions", json=body, headers=H)


def total(client: TestClient, query: str) -> int:
    response = client.get(f"/api/records?{query}&limit=500", headers=H)
    assert response.status_code == 200, response.text
    return response.json()["total"]


def test_every_route_needs_the_token_in_header_or_query(client, run_dir):
    rid = accepted_ids(run_dir)[0]
    for path in ("/", "/api/run", "/api/records", f"/api/records/{rid}",
                 "/api/calibration/sample", "/api/calibration"):
        assert client.get(path).status_code == 403, path
        assert client.get(path, headers={"X-Review-Token": "wrong"}).status_code == 403, path
        assert client.get(path, params={"token": "wrong"}).status_code == 403, path
        assert client.get(path, headers=H).status_code == 200, path
        assert client.get(path, params={"token": TOKEN}).status_code == 200, path
    body = {"record": rid, "action": "accept"}
    assert client.post("/api/actions", json=body).status_code == 403
    assert client.post("/api/actions", json=body,
                       headers={"X-Review-Token": "wrong"}).status_code == 403
    assert not (run_dir / "reviews.jsonl").exists()
    assert client.post(f"/api/actions?token={TOKEN}", json=body).status_code == 200
    js = client.get("/static/review.js")
    assert js.status_code == 200 and "use strict" in js.text


def test_server_binds_loopback_and_answers_only_with_token(run_dir):
    with bind(0) as sock:
        host, port = sock.getsockname()
    assert host == "127.0.0.1" and port > 0
    with running(run_dir, port=0, token=TOKEN) as url:
        assert url.startswith("http://127.0.0.1:")
        base = url.split("?")[0]
        with httpx.Client(trust_env=False, timeout=10) as http:
            assert http.get(url).status_code == 200
            assert http.get(base + "api/run", headers=H).json()["kind"] == "classification"
            assert http.get(base).status_code == 403
            assert http.get(base + "api/run").status_code == 403


def test_load_review_run_refuses_missing_and_empty_dirs(tmp_path):
    with pytest.raises(UserInputError, match="no such directory"):
        load_review_run(tmp_path / "missing")
    with pytest.raises(UserInputError, match="not a run"):
        load_review_run(tmp_path)


def test_review_cli_on_empty_dir_exits_2_before_serving(tmp_path, monkeypatch):
    import uvicorn

    def never(*args, **kwargs):  # the test fails instead of hanging if it serves
        raise AssertionError("the server started")

    monkeypatch.setattr(uvicorn.Server, "run", never)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["review", str(empty), "--port", "0"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(empty) in lines[0] and "not a run" in lines[0]


def test_corrupt_data_lines_are_reported_skipped_and_left_in_place(run_dir):
    with open(run_dir / "data.jsonl", "a") as f:
        f.write('{"not": "a record"}\n')
        f.write("this is ~~ garbage\n")
    before = files(run_dir)
    run = load_review_run(run_dir)
    assert len(run.problems) == 2 and ":13:" in run.problems[0] and ":14:" in run.problems[1]
    assert sum(s == "accepted" for s in run.status.values()) == 12 and len(run.records) == 15
    c = TestClient(make_app(run_dir, TOKEN, "ana"))
    assert c.get("/api/run", headers=H).json()["problems"] == run.problems
    assert total(c, "status=all") == 15
    assert files(run_dir) == before


@pytest.mark.parametrize(("query", "expected"), [
    ("", 15), ("label=billing", 5), ("label=outage", 5), ("status=rejected", 3),
    ("status=accepted", 12), ("reason=filter.copy_guard", 1), ("reason=no+text", 1),
    ("check=self_consistency", 12), ("check=self_consistency&verdict=failed", 3),
    ("check=self_consistency&verdict=passed", 9), ("min_score=3.5", 6), ("max_score=2", 4),
    ("min_score=3&max_score=3.5", 6), ("min_trust=0.6", 12), ("max_trust=0.5", 3),
    ("perturbation=typos", 1), ("perturbation=any", 1), ("perturbation=none", 14),
    ("q=REFUND", 2), ("q=refund+March", 1), ("q=router+RED", 2), ("q=router+blue", 0),
    ("label=outage&status=rejected", 1),
])
def test_record_filters_give_exact_totals(client, query, expected):
    assert total(client, query) == expected


def test_non_number_score_filter_is_a_400_naming_it(client):
    response = client.get("/api/records?min_score=high", headers=H)
    assert response.status_code == 400 and "min_score" in response.json()["error"]


def test_decision_and_label_filters_follow_actions(client, run_dir):
    ids = accepted_ids(run_dir)
    assert post(client, record=ids[0], action="reject", reason="off-topic").status_code == 200
    assert post(client, record=ids[4], action="edit", field="label",
                value="billing").status_code == 200
    assert post(client, record=ids[8], action="rate", keep=True).status_code == 200
    assert [total(client, f"decision={d}") for d in ("unreviewed", "rejected", "edited",
                                                     "rated", "accepted")] == [12, 1, 1, 1, 0]
    assert total(client, "label=billing") == 6 and total(client, "label=outage") == 4


REFUSED = [
    ({"action": "reject"}, "needs a reason"),
    ({"action": "reject", "reason": "   "}, "needs a reason"),
    ({"action": "rescue"}, "not rejected"),
    ({"action": "edit", "field": "label", "value": "sales"}, "billing, outage, moving"),
    ({"action": "edit", "field": "inputs.text", "value": ""}, "may not be empty"),
    ({"action": "edit", "field": "inputs.text", "value": ["a", "b"]}, "must stay a string"),
    ({"action": "edit", "field": "inputs.subject", "value": "x"}, "not a field"),
    ({"action": "edit", "field": "provenance.model", "value": "x"}, "not a field"),
    ({"action": "rate", "scores": {"relevance": 6}}, "1..5"),
    ({"action": "rate", "scores": {"relevance": 0}}, "1..5"),
    ({"action": "rate", "scores": {"relevance": 2.5}}, "whole number"),
    ({"action": "rate", "scores": {"wit": 3}}, "not a criterion"),
    ({"action": "rate"}, "needs scores"),
    ({"action": "delete"}, "unknown action"),
    ({"action": "accept", "record": "no-such-id"}, "no record"),
]


@pytest.mark.parametrize(("body", "message"), REFUSED)
def test_refused_actions_are_422_and_write_nothing(client, run_dir, body, message):
    before = files(run_dir)
    response = post(client, **{"record": accepted_ids(run_dir)[0], **body})
    assert response.status_code == 422 and message in response.json()["error"]
    assert not (run_dir / "reviews.jsonl").exists() and files(run_dir) == before


def test_accepted_actions_are_one_line_each_with_their_content(client, run_dir):
    before = files(run_dir)
    ids = accepted_ids(run_dir)
    assert post(client, record=ids[0], action="accept").status_code == 200
    assert post(client, record=ids[1], action="reject", reason="too short").status_code == 200
    copy = post(client, record="rej-copy-0002", action="rescue", reason="not a copy")
    assert copy.status_code == 422 and "copy of record" in copy.json()["error"]
    assert post(client, record="rej-judge-0001", action="rescue",
                reason="judge too harsh").status_code == 200
    response = post(client, record=ids[2], action="edit", field="label", value="moving",
                    who="bea")
    assert response.status_code == 200 and response.json()["record"]["label"] == "moving"
    assert post(client, record=ids[3], action="rate", scores={"relevance": 4},
                keep=False).status_code == 200
    lines = logged(run_dir)
    assert [(x["seq"], x["record"], x["action"]) for x in lines] == [
        (1, ids[0], "accept"), (2, ids[1], "reject"), (3, "rej-judge-0001", "rescue"),
        (4, ids[2], "edit"), (5, ids[3], "rate")]
    assert [x["who"] for x in lines] == ["ana", "ana", "ana", "bea", "ana"]
    assert all(x["at"] for x in lines)
    assert lines[1]["reason"] == "too short" and lines[2]["reason"] == "judge too harsh"
    assert (lines[3]["field"], lines[3]["before"], lines[3]["after"]) == (
        "label", "billing", "moving")
    assert lines[4]["scores"] == {"relevance": 4} and lines[4]["keep"] is False
    assert files(run_dir) == before


def test_tool_call_edit_that_breaks_its_schema_is_refused(tmp_path):
    run_dir = tool_dialogue_run(tmp_path / "tools")
    record = json.loads((run_dir / "data.jsonl").read_text().splitlines()[0])
    c = TestClient(make_app(run_dir, TOKEN, "ana"))
    messages = record["outputs"]["messages"]
    broken = json.loads(json.dumps(messages))
    call = broken[5]["tool_calls"][0]["function"]
    call["arguments"] = json.dumps({"flight_id": "FL000", "passengers": "two"})
    response = post(c, record=record["id"], action="edit", field="outputs.messages",
                    value=broken)
    assert response.status_code == 422 and "tool call" in response.json()["error"]
    assert not (run_dir / "reviews.jsonl").exists()
    fixed = json.loads(json.dumps(messages))
    fixed[3]["content"] = "FL000 is 120 pounds. Shall I book it?"
    response = post(c, record=record["id"], action="edit", field="outputs.messages",
                    value=fixed)
    assert response.status_code == 200, response.text
    assert logged(run_dir)[0]["after"][3]["content"] == fixed[3]["content"]


@pytest.mark.parametrize("extra", [{"action": "accept", "tab": 5},
                                   {"action": "rate", "scores": [4]},
                                   {"action": "rate", "label": 3}])
def test_malformed_action_fields_are_422_not_500(run_dir, extra):
    c = TestClient(make_app(run_dir, TOKEN, "ana"), raise_server_exceptions=False)
    response = post(c, record=accepted_ids(run_dir)[0], **extra)
    assert response.status_code == 422 and not (run_dir / "reviews.jsonl").exists()


def test_a_negative_offset_is_refused(client):
    response = client.get("/api/records?offset=-1", headers=H)
    assert response.status_code == 400 and "offset" in response.json()["error"]


def test_rescue_of_a_record_without_text_is_refused(client, run_dir):
    for action in ("rescue", "accept"):
        response = post(client, record="rej-empty-0003", action=action)
        assert response.status_code == 422 and "lacks text" in response.json()["error"]
    assert not (run_dir / "reviews.jsonl").exists()


def test_two_tabs_editing_one_label_are_both_recorded_in_order(client, run_dir):
    rid = accepted_ids(run_dir)[0]
    assert post(client, record=rid, action="edit", field="label", value="outage",
                tab="A").status_code == 200
    assert post(client, record=rid, action="edit", field="label", value="moving",
                tab="B").status_code == 200
    first, second = logged(run_dir)
    assert (first["seq"], first["tab"], second["seq"], second["tab"]) == (1, "A", 2, "B")
    assert first["before"] == "billing" and second["before"] == first["after"] == "outage"
    record = client.get(f"/api/records/{rid}", headers=H).json()
    assert record["record"]["label"] == "moving" and len(record["actions"]) == 2


def test_concurrent_posts_lose_nothing(client, run_dir):
    ids = accepted_ids(run_dir)

    def act(i: int) -> int:
        return post(client, record=ids[i % 12], action="accept", reason=f"r{i}").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(act, range(20))) == [200] * 20
    lines = logged(run_dir)
    assert sorted(x["seq"] for x in lines) == list(range(1, 21))
    assert {x["reason"] for x in lines} == {f"r{i}" for i in range(20)}


def test_concurrent_log_appends_from_threads_get_unique_seqs(tmp_path):
    def append(i: int) -> int:
        return ReviewLog(tmp_path).append(lambda seq, earlier: ReviewAction(
            seq=seq, at=now(), who="t", record=f"r{i}", action="accept")).seq

    with ThreadPoolExecutor(max_workers=10) as pool:
        seqs = list(pool.map(append, range(20)))
    assert sorted(seqs) == list(range(1, 21))
    actions = ReviewLog(tmp_path).read()
    assert [a.seq for a in actions] == list(range(1, 21))
    assert {a.record for a in actions} == {f"r{i}" for i in range(20)}


def export(run_dir: Path, out: Path, *flags: str) -> list[dict]:
    result = runner.invoke(app, ["export", str(run_dir), "-o", str(out), *flags])
    assert result.exit_code == 0, result.output
    return [json.loads(x) for x in out.read_text().splitlines()]


def test_export_with_reviews_applies_them_with_provenance(client, run_dir, tmp_path):
    ids = accepted_ids(run_dir)
    assert post(client, record=ids[0], action="reject", reason="off-topic").status_code == 200
    assert post(client, record="rej-judge-0001", action="rescue").status_code == 200
    assert post(client, record=ids[4], action="edit", field="label",
                value="billing").status_code == 200
    assert post(client, record=ids[8], action="rate", scores={"relevance": 4, "naturalness": 2},
                keep=True).status_code == 200
    rows = export(run_dir, tmp_path / "out.jsonl", "--with-reviews")
    by_id = {r["id"]: r for r in rows}
    assert len(rows) == 12 and ids[0] not in by_id and ids[4] not in by_id
    rescued = next(r for r in rows if "rej-judge-0001" in r["provenance"]["parents"])
    assert rescued["rejected"] is None and rescued["id"] != "rej-judge-0001"
    assert rescued["provenance"]["operators"][-1]["verdict"] == "rescued"
    edited = next(r for r in rows if ids[4] in r["provenance"]["parents"])
    assert edited["label"] == "billing"
    assert edited["provenance"]["human_fields"] == {"label": "human:ana"}
    assert edited["provenance"]["operators"][-1]["operator"] == "human.review"
    rated, human = by_id[ids[8]], by_id[ids[8]]["verification"][-1]
    assert (human["check"], human["by"], human["passed"], human["score"]) == (
        "human", "human:ana", True, 3.0)
    assert rated["provenance"]["operators"][-1]["operator"] == "human.review"
    assert rated["provenance"]["human_fields"] == {}
    untouched = [r for r in rows if r["id"] in ids[1:4]]
    assert all(r["provenance"]["operators"][-1]["operator"] != "human.review"
               for r in untouched) and len(untouched) == 3


def test_export_without_reviews_flag_or_log_equals_data(client, run_dir, tmp_path):
    data = [Record.model_validate_json(x).model_dump(mode="json")
            for x in (run_dir / "data.jsonl").read_text().splitlines()]
    with pytest.warns(RuntimeWarning, match="no reviews.jsonl"):
        assert export(run_dir, tmp_path / "a.jsonl", "--with-reviews") == data
    assert post(client, record=accepted_ids(run_dir)[0], action="reject",
                reason="bad").status_code == 200
    assert export(run_dir, tmp_path / "b.jsonl") == data


def test_blind_sample_is_deterministic_stratified_and_complete(run_dir):
    run = load_review_run(run_dir)
    assert blind_sample(run, 6, 3) == blind_sample(run, 6, 3)
    assert len({tuple(blind_sample(run, 6, s)) for s in range(6)}) > 1
    for seed in range(5):
        labels = sorted(run.records[i].label for i in blind_sample(run, 6, seed))
        assert labels == ["billing", "billing", "moving", "moving", "outage", "outage"]
    everything = blind_sample(run, 100, 0)
    assert len(everything) == 14 and "rej-empty-0003" not in everything


def test_blind_view_hides_label_and_scores_at_any_depth(run_dir):
    run = load_review_run(run_dir)
    record = Record(id="x", task="support_tickets", label="billing", origin="synthetic",
                    inputs={"text": "hi", "meta": {"score": 1, "keep": 2}},
                    outputs={"votes": [1, 2], "items": [{"scores": {"a": 1}, "text": "y"}]})
    view = blind_view(run, record)
    assert view["label"] is None
    assert view["inputs"] == {"text": "hi", "meta": {"keep": 2}}
    assert view["outputs"] == {"items": [{"text": "y"}]}


def rate_sample(client: TestClient, run_dir: Path, n: int) -> list[tuple[Record, dict]]:
    response = client.get(f"/api/calibration/sample?n={n}&seed=0", headers=H)
    assert response.status_code == 200
    shown = response.json()["records"]
    assert len(shown) == n
    assert all(set(r) == {"id", "kind", "inputs", "outputs", "label"} for r in shown)
    assert "verification" not in response.text and "trust_weight" not in response.text
    run = load_review_run(run_dir)
    rated = []
    for item in shown:
        record = run.records[item["id"]]
        sc, judge = record.verdict("self_consistency"), record.verdict("judge")
        body = {"record": record.id, "action": "rate", "blind": True,
                # the person agrees with self-consistency's prediction, else the generator
                "label": sc.detail["predicted"] if sc else record.label,
                "scores": judge.detail["scores"] if judge else dict.fromkeys(
                    ("relevance", "naturalness", "label_fit", "difficulty"), 3),
                "keep": bool(judge and judge.score >= 3)}
        assert post(client, **body).status_code == 200
        rated.append((record, body))
    return rated


def test_calibration_measures_judges_against_blind_ratings(client, run_dir):
    rated = rate_sample(client, run_dir, 14)  # every record with a text, 2 of them rejected
    assert sum(r.rejected is not None for r, _ in rated) == 2
    result = client.get("/api/calibration", headers=H).json()
    assert result["rated"] == 14 and result["reviewers"] == ["ana"]
    rows = {r["judge"]: r for r in result["agreement"]}
    gen = rows["generator's label"]["result"]
    assert rows["generator's label"]["statistic"] == "kappa" and gen["n"] == 14
    assert gen["accuracy"] == pytest.approx(
        sum(r.label == b["label"] for r, b in rated) / 14)
    assert gen["cohen_kappa"] == pytest.approx(cohen_kappa_score(
        [r.label for r, _ in rated], [b["label"] for _, b in rated]))
    sc = rows["self-consistency (predicted label)"]["result"]
    assert (sc["n"], sc["missing"], sc["accuracy"], sc["cohen_kappa"]) == (12, 2, 1.0, 1.0)
    for name in ("relevance", "naturalness", "label_fit", "difficulty", "mean score"):
        row = rows[f"judge: {name}"]
        assert row["statistic"] == "spearman"
        assert (row["result"]["spearman"], row["result"]["missing"]) == (
            pytest.approx(1.0), 1)  # the copy-guard rejection has no judge verdict
    with_check = [(r, b) for r, b in rated if r.verdict("self_consistency")]
    keep = rows["self_consistency pass/fail vs keep"]["result"]
    assert keep["n"] == 12 and keep["cohen_kappa"] == pytest.approx(cohen_kappa_score(
        [str(r.verdict("self_consistency").passed) for r, _ in with_check],
        [str(b["keep"]) for _, b in with_check]))
    threshold = result["threshold"]
    assert threshold["score"] == "judge mean score"
    run = load_review_run(run_dir)
    lowest_kept = min(r.verdict("judge").score for r in run.records.values()
                      if r.rejected is None)
    current = threshold["current"]
    assert (current["drop_quantile"], current["min_score"]) == (0.15, lowest_kept)
    assert current["result"]["n"] == 13
    kept_scores = [r.verdict("judge").score for r, b in rated if b["keep"]]
    assert (threshold["result"]["threshold"], threshold["result"]["n"],
            threshold["result"]["missing"]) == (min(kept_scores), 13, 1)
    assert threshold["result"]["cohen_kappa"] == pytest.approx(1.0)
    sample = client.get("/api/calibration/sample?n=14&seed=0", headers=H).json()
    assert sorted(sample["rated"]) == sorted(r.id for r, _ in rated)
    alone = client.get("/api/calibration?who=someone-else", headers=H).json()
    assert alone["rated"] == 0 and alone["agreement"] == []


def test_calibration_with_two_ratings_reports_errors_not_crash(client, run_dir):
    rate_sample(client, run_dir, 2)
    result = client.get("/api/calibration", headers=H).json()
    assert result["rated"] == 2 and result["agreement"]
    assert all(set(r["result"]) == {"error"} for r in result["agreement"])
    assert set(result["threshold"]["result"]) == {"error"}


def test_best_threshold_finds_the_perfect_cut():
    result = best_threshold([1, 2, 3, 4, 5, 6], [False, False, False, True, True, True])
    assert (result["threshold"], result["cohen_kappa"], result["accuracy"]) == (4.0, 1.0, 1.0)
    assert (result["n"], result["missing"], result["kept_by_cut"],
            result["kept_by_person"]) == (6, 0, 3, 3)


def test_best_threshold_counts_missing_scores_and_needs_three_scored():
    result = best_threshold([None, 1, 5, None, 6], [True, False, True, False, True])
    assert (result["threshold"], result["n"], result["missing"]) == (5.0, 3, 2)
    with pytest.raises(ValueError, match="at least 3"):
        best_threshold([1, None, 2, None], [True, True, False, False])
    with pytest.raises(ValueError, match="differ in length"):
        best_threshold([1, 2, 3], [True, False])


def test_best_threshold_tie_goes_to_the_lower_cut():
    # cuts 2 and 4 both give kappa 0.5 and accuracy 0.75
    result = best_threshold([1, 2, 3, 4], [False, True, False, True])
    assert (result["threshold"], result["accuracy"]) == (2.0, 0.75)
    assert result["cohen_kappa"] == pytest.approx(0.5)


def action_line(seq: int) -> str:
    return ReviewAction(seq=seq, at=now(), who="ana", record=f"r{seq}",
                        action="accept").model_dump_json() + "\n"


def test_review_log_skips_torn_last_line_silently(tmp_path):
    (tmp_path / "reviews.jsonl").write_text(action_line(1) + action_line(2) + '{"seq": 3, "a')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [a.seq for a in ReviewLog(tmp_path).read()] == [1, 2]


def test_review_log_warns_on_bad_middle_line(tmp_path):
    (tmp_path / "reviews.jsonl").write_text(action_line(1) + "oops\n" + action_line(2))
    with pytest.warns(RuntimeWarning, match=r"reviews.jsonl:2: not a review action"):
        assert [a.seq for a in ReviewLog(tmp_path).read()] == [1, 2]


def test_append_after_torn_line_cuts_it_off_and_takes_the_next_seq(tmp_path):
    torn = '{"seq": 3, "a'
    (tmp_path / "reviews.jsonl").write_text(action_line(1) + action_line(2) + torn)
    log = ReviewLog(tmp_path)
    action = log.append(lambda seq, earlier: ReviewAction(
        seq=seq, at=now(), who="ana", record="r3", action="reject", reason=str(len(earlier))))
    assert (action.seq, action.reason) == (3, "2")
    lines = log.path.read_text().split("\n")
    assert json.loads(lines[2])["seq"] == 3 and lines[3] == "" and len(lines) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing left to warn about
        assert [a.seq for a in log.read()] == [1, 2, 3]


# ----------------------------------------------------------- after the code review


def test_an_editor_dropping_the_final_newline_loses_no_action(tmp_path):
    (tmp_path / "reviews.jsonl").write_text(action_line(1) + action_line(2).rstrip("\n"))
    log = ReviewLog(tmp_path)
    log.append(lambda seq, earlier: ReviewAction(
        seq=seq, at=now(), who="ana", record="r3", action="reject", reason="x"))
    assert [a.seq for a in log.read()] == [1, 2, 3]


def test_values_of_the_wrong_kind_are_refused_not_a_server_error(client, run_dir):
    unlabelled = "rej-empty-0003"
    for body in ({"record": unlabelled, "action": "edit", "field": "label", "value": ["x"]},
                 {"record": accepted_ids(run_dir)[0], "action": "edit",
                  "field": "trust_weight", "value": 10 ** 400},
                 {"record": accepted_ids(run_dir)[0], "action": "edit",
                  "field": "trust_weight", "value": "0.5"}):
        response = post(client, **body)
        assert response.status_code == 422, response.text
    assert not (run_dir / "reviews.jsonl").exists()


def test_a_rejected_record_without_text_is_completed_then_rescued(client, run_dir, tmp_path):
    record = client.get("/api/records/rej-empty-0003", headers=H).json()
    assert "inputs.text" in record["editable"]
    assert post(client, record="rej-empty-0003", action="edit", field="inputs.text",
                value="Please move my line to 4 Elm Road next week.").status_code == 200
    assert post(client, record="rej-empty-0003", action="rescue").status_code == 200
    rows = export(run_dir, tmp_path / "out.jsonl", "--with-reviews")
    rescued = next(r for r in rows if "rej-empty-0003" in r["provenance"]["parents"])
    assert rescued["inputs"]["text"].startswith("Please move")
    assert rescued["provenance"]["human_fields"] == {"inputs.text": "human:ana"}


def test_an_edit_that_copies_another_record_is_refused(client, run_dir):
    ids = accepted_ids(run_dir)
    data = [json.loads(x) for x in (run_dir / "data.jsonl").read_text().splitlines()]
    first, second = data[0], data[1]
    assert first["label"] == second["label"]
    response = post(client, record=second["id"], action="edit", field="inputs.text",
                    value=first["inputs"]["text"])
    assert response.status_code == 422 and f"copy of record {ids[0]}" in response.json()["error"]


def test_chat_messages_of_the_wrong_shape_are_refused(tmp_path):
    run_dir = tool_dialogue_run(tmp_path / "tools")
    client = TestClient(make_app(run_dir, TOKEN, "ana"))
    record = client.get("/api/records?limit=1", headers=H).json()["rows"][0]
    messages = client.get(f"/api/records/{record['id']}", headers=H).json()[
        "record"]["outputs"]["messages"]
    for broken in ([*messages[:1], {"role": "assistant", "tool_calls": "x"}],
                   [*messages[:1], "hello"]):
        response = post(client, record=record["id"], action="edit", field="outputs.messages",
                        value=broken)
        assert response.status_code == 422, response.text


def test_a_preference_record_is_blind_to_the_judges_pick(run_dir):
    run = load_review_run(run_dir)
    record = Record(id="pref-1", task="t", kind="preference", origin="synthetic",
                    inputs={"prompt": "p"},
                    outputs={"chosen": "good", "rejected": "bad", "margin": 2.0,
                             "candidates": [{"text": "good", "score": 1.2, "low": 0.1}]})
    view = blind_view(run, record)
    assert set(view["outputs"]) == {"response_1", "response_2", "candidates"}
    assert {view["outputs"]["response_1"], view["outputs"]["response_2"]} == {"good", "bad"}
    assert view["outputs"]["candidates"] == [{"text": "good"}]


def test_a_repeated_id_and_a_torn_last_line_are_reported(run_dir):
    first = (run_dir / "data.jsonl").read_text().splitlines()[0]
    rejected = (run_dir / "rejected.jsonl").read_text().splitlines()[0]
    with open(run_dir / "rejected.jsonl", "a") as f:
        f.write(rejected + "\n")  # a draft rejected twice: a normal run, not reported
    with open(run_dir / "data.jsonl", "a") as f:
        f.write(first + "\n" + first[:20])
    problems = load_review_run(run_dir).problems
    assert len(problems) == 2
    assert any("again" in p and "data.jsonl" in p for p in problems)
    assert any("no end" in p for p in problems)


def test_export_refuses_to_overwrite_the_run_s_own_files(run_dir):
    before = (run_dir / "data.jsonl").read_bytes()
    result = runner.invoke(app, ["export", str(run_dir), "--with-reviews", "-o",
                                 str(run_dir / "data.jsonl")])
    assert result.exit_code == 2 and (run_dir / "data.jsonl").read_bytes() == before
