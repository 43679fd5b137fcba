"""The review page's web server: Starlette routes over a loaded run, served by uvicorn on
127.0.0.1 only.

Every route but the page's own static files (JavaScript and CSS shipped in the package, no
data) needs the run's token: ``?token=...`` in the URL or an ``X-Review-Token`` header;
without it the answer is 403. The token is random per server (:func:`secrets.token_urlsafe`,
32 bytes), so another user of the machine, who can reach 127.0.0.1 too, cannot read or
write the run.

JSON API (all under ``/api``): ``GET run`` (task, labels, rubric, facets, problems),
``GET records`` (filters of :func:`synthloom.review.query.filter_rows`), ``GET
records/{id}`` (the record, its state and its actions), ``POST actions`` (one action, see
:func:`make_action`), ``GET calibration/sample`` and ``GET calibration`` (the result).
"""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synthloom.errors import UserInputError
from synthloom.review.apply import (
    ActionRefused,
    ReviewState,
    check_edit,
    editable_fields,
    export_id,
    get_field,
    included_ids,
    review_states,
)
from synthloom.review.calibrate import (
    blind_sample,
    blind_view,
    calibration_result,
    latest_blind_ratings,
)
from synthloom.review.log import ReviewAction, ReviewLog, now
from synthloom.review.query import FILTERS, facets, filter_rows, summary
from synthloom.review.run import ReviewRun, load_review_run

HOST = "127.0.0.1"
#: most records one calibration sample may hold
MAX_SAMPLE = 1000
STATIC = Path(__file__).parent / "static"


def make_action(run: ReviewRun, body: dict[str, Any], who: str, seq: int,
                earlier: list[ReviewAction]) -> ReviewAction:
    """The action a POSTed body asks for, checked against the record's current state.

    Args:
        run: the run the page serves.
        body: ``{"record", "action"}`` and, per action: ``reason`` (reject: required);
            ``field``, ``value`` and ``seen`` (edit: the value the page showed); ``scores``
            ({criterion: int}), ``label``, ``keep`` and ``blind`` (rate); optional ``who``
            and ``tab``.
        who: the reviewer name used when the body gives none.
        seq: the next sequence number.
        earlier: the actions logged so far (the edit's ``before`` is the field's value
            after them).

    Raises:
        ActionRefused: the action does not fit: unknown record or action, a value of the
            wrong JSON type, a reject without a reason, a rescue of a record that was not
            rejected or lacks its kind's fields, an edit the kind's schema refuses, an edit
            or rescue that would make the record a copy of another one in the dataset, a
            score outside the rubric's scale (the message says which).
    """
    try:
        return _make_action(run, body, who, seq, earlier)
    except ActionRefused:
        raise
    except (ValueError, TypeError, OverflowError, AttributeError, KeyError) as e:
        # pydantic's ValidationError is a ValueError: a value the log cannot hold
        raise ActionRefused(f"not a valid action: {type(e).__name__}: "
                            f"{str(e).splitlines()[-1].strip()[:200]}") from None


def _copy_check(run: ReviewRun, states: dict[str, ReviewState], state: ReviewState) -> None:
    """Refuse a state whose export id is another included record's (``states``: every
    record's state after the earlier actions)."""
    taken = included_ids(run, states)
    target = export_id(state)
    other = taken.get(target)
    if other is not None and other != state.record_id:
        raise ActionRefused(f"record {state.record_id} would then be a copy of record "
                            f"{other} (same content): reject one of them first")


def _make_action(run: ReviewRun, body: dict[str, Any], who: str, seq: int,
                 earlier: list[ReviewAction]) -> ReviewAction:
    record_id, action = str(body.get("record") or ""), body.get("action")
    if record_id not in run.records:
        raise ActionRefused(f"no record {record_id!r} in this run")
    for key, types, what in (("tab", (str,), "a string"), ("who", (str,), "a string"),
                             ("reason", (str,), "a string"), ("scores", (dict,), "an object"),
                             ("label", (str,), "a string"), ("field", (str,), "a string")):
        if body.get(key) is not None and not isinstance(body[key], types):
            raise ActionRefused(f"{key} must be {what}, got {type(body[key]).__name__}")
    name = str(body.get("who") or who).strip()[:100] or who
    fields: dict[str, Any] = {"seq": seq, "at": now(), "who": name, "record": record_id,
                              "action": action, "tab": body.get("tab")}
    reason = str(body.get("reason") or "").strip() or None
    states = review_states(run, earlier)
    state = states.get(record_id) or ReviewState(
        record=run.records[record_id], included=run.status[record_id] == "accepted",
        record_id=record_id)
    if action == "reject":
        if reason is None:
            raise ActionRefused("a rejection needs a reason")
        fields["reason"] = reason
    elif action in ("rescue", "accept"):
        if action == "rescue" and run.status[record_id] != "rejected":
            raise ActionRefused(f"record {record_id} was not rejected: nothing to rescue")
        if run.status[record_id] == "rejected":
            if run.task is not None and (missing := run.task.missing_fields(state.record)):
                raise ActionRefused(f"record {record_id} lacks {', '.join(missing)}: edit it "
                                    "in before taking it into the dataset")
            _copy_check(run, states, ReviewState(
                record=state.record, included=True, decision="rescued",
                actions=state.actions, record_id=record_id))
        fields["reason"] = reason
    elif action == "edit":
        path = str(body.get("field") or "")
        edited = check_edit(run, state.record, path, body.get("value"))
        if state.included:
            _copy_check(run, states, ReviewState(
                record=edited, included=True, decision=state.decision,
                actions=[*state.actions, ReviewAction(**{**fields, "field": path})],
                record_id=record_id))
        fields.update(field=path, before=get_field(state.record, path, run),
                      after=body.get("value"), seen=body.get("seen"))
    elif action == "rate":
        fields.update(_rating(run, body))
    else:
        raise ActionRefused(f"unknown action {action!r}: accept, reject, rescue, edit or rate")
    return ReviewAction(**fields)


def _rating(run: ReviewRun, body: dict[str, Any]) -> dict[str, Any]:
    scales = {c["name"]: (min(c["levels"]), max(c["levels"])) for c in run.rubric}
    scores: dict[str, int] = {}
    for name, value in (body.get("scores") or {}).items():
        if name not in scales:
            raise ActionRefused(f"{name!r} is not a criterion of the rubric: {', '.join(scales)}")
        low, high = scales[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ActionRefused(f"score of {name} must be a whole number {low}..{high}, "
                              f"got {value!r}")
        scores[name] = value
    label = body.get("label")
    if label is not None and run.labels and label not in run.labels:
        raise ActionRefused(f"label {label!r} is not one of the task's labels")
    keep = body.get("keep")
    if keep is not None and not isinstance(keep, bool):
        raise ActionRefused("keep must be true or false")
    if not scores and label is None and keep is None:
        raise ActionRefused("a rating needs scores, a label or a keep/drop decision")
    return {"scores": scores or None, "label": label, "keep": keep,
            "blind": bool(body.get("blind"))}


def _record_payload(run: ReviewRun, rid: str, state: ReviewState | None) -> dict[str, Any]:
    record = state.record if state is not None else run.records[rid]
    return {"record": record.model_dump(mode="json"),
            "editable": editable_fields(run, record),
            "original": run.records[rid].model_dump(mode="json") if state and
            state.edited_fields else None,
            "summary": summary(run, run.records[rid], state),
            "actions": [a.model_dump(mode="json") for a in (state.actions if state else [])]}


def make_app(run_dir: str | Path, token: str, reviewer: str) -> Any:
    """The Starlette application for one run.

    Raises:
        UserInputError: ``run_dir`` is not a run (see :func:`load_review_run`).
    """
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    run = load_review_run(run_dir)
    log = ReviewLog(run.dir)

    class TokenCheck(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: Any) -> Response:
            if not request.url.path.startswith("/static/"):
                given = request.query_params.get("token") or request.headers.get(
                    "x-review-token") or ""
                if not secrets.compare_digest(given.encode(), token.encode()):
                    return PlainTextResponse("403: this page needs the token printed by "
                                             "`synthloom review`", status_code=403)
            return await call_next(request)

    def error(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def states() -> dict[str, ReviewState]:
        return review_states(run, log.read())

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def run_info(request: Request) -> Response:
        return JSONResponse({
            "dir": str(run.dir.resolve()), "task": getattr(run.task, "name", None),
            "description": getattr(run.task, "description", None), "kind": run.kind,
            "labels": run.labels, "rubric": run.rubric, "judge_cut": run.judge_cut,
            "facets": facets(run), "problems": run.problems, "reviewer": reviewer,
            "reviews": str(log.path.name)})

    async def records(request: Request) -> Response:
        q = request.query_params
        try:
            offset, limit = int(q.get("offset", 0)), min(int(q.get("limit", 50)), 500)
            if offset < 0 or limit < 1:
                raise ValueError(f"offset must be >= 0 and limit >= 1, got {offset} and "
                                 f"{limit}")
            return JSONResponse(filter_rows(run, states(), {k: q.get(k) for k in FILTERS},
                                            offset, limit))
        except ValueError as e:
            return error(str(e))

    async def record(request: Request) -> Response:
        rid = request.path_params["rid"]
        if rid not in run.records:
            return error(f"no record {rid!r} in this run", 404)
        return JSONResponse(_record_payload(run, rid, states().get(rid)))

    async def act(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return error("the body must be a JSON object")
        if not isinstance(body, dict):
            return error("the body must be a JSON object")
        try:
            action = log.append(lambda seq, earlier: make_action(run, body, reviewer, seq,
                                                                  earlier))
        except ActionRefused as e:
            return error(str(e), 422)
        return JSONResponse({"action": action.model_dump(mode="json"),
                             **_record_payload(run, action.record, states().get(action.record))})

    async def sample(request: Request) -> Response:
        try:
            n, seed = int(request.query_params.get("n", 20)), int(
                request.query_params.get("seed", 0))
            if n > MAX_SAMPLE:
                raise ValueError(f"a calibration sample holds at most {MAX_SAMPLE} records")
            ids = blind_sample(run, n, seed)
        except ValueError as e:
            return error(str(e))
        done = latest_blind_ratings(log.read())
        return JSONResponse({"records": [blind_view(run, run.records[i]) for i in ids],
                             "rated": [i for i in ids if i in done]})

    async def calibration(request: Request) -> Response:
        return JSONResponse(calibration_result(run, log.read(),
                                               request.query_params.get("who") or None))

    app = Starlette(routes=[
        Route("/", index),
        Route("/api/run", run_info),
        Route("/api/records", records),
        Route("/api/records/{rid}", record),
        Route("/api/actions", act, methods=["POST"]),
        Route("/api/calibration/sample", sample),
        Route("/api/calibration", calibration),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ], middleware=[Middleware(TokenCheck)])
    app.state.run = run
    return app


def bind(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:``port`` (0: any free port).

    Raises:
        UserInputError: the port is taken or not allowed.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as e:
        sock.close()
        raise UserInputError(f"cannot listen on {HOST}:{port} ({e.strerror}); pass another "
                             "--port") from None
    sock.listen(64)
    return sock


@contextmanager
def running(run_dir: str | Path, port: int = 0, reviewer: str = "reviewer",
            token: str | None = None) -> Iterator[str]:
    """Serve the review page in a background thread; yields its URL (with the token).

    Raises:
        UserInputError: not a run, or the port cannot be bound.
    """
    import uvicorn

    token = token or secrets.token_urlsafe(32)
    app = make_app(run_dir, token, reviewer)
    sock = bind(port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.02)
    try:
        yield f"http://{HOST}:{sock.getsockname()[1]}/?token={token}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve(run_dir: str | Path, port: int, reviewer: str, say: Any = print) -> None:
    """Serve the review page until Ctrl-C (blocking); ``say`` gets the URL line.

    Raises:
        UserInputError: not a run, or the port cannot be bound.
    """
    import uvicorn

    token = secrets.token_urlsafe(32)
    app = make_app(run_dir, token, reviewer)
    for problem in app.state.run.problems:
        say(f"warning: {problem}")
    sock = bind(port)
    say(f"review {Path(run_dir)} at http://{HOST}:{sock.getsockname()[1]}/?token={token}")
    say("actions are appended to reviews.jsonl; Ctrl-C stops the server")
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(
            sockets=[sock])
    finally:
        sock.close()
