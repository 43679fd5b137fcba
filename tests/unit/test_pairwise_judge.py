"""The pairwise judge: random position swaps undone, both orders, ensembles averaged,
invalid answers abstaining (never coerced), all in one batch per judge."""

from __future__ import annotations

import json
import re

from synthloom.operators.judge.pairwise import PairTask, PairwiseJudge
from tests.unit.scripted import ScriptedBackend


def slots(request) -> tuple[str, str]:
    user = request.messages[1]["content"]
    first = re.search(r"A:\n(.*?)\n\n", user, re.S).group(1)
    second = re.search(r"B:\n(.*?)\n\n", user, re.S).group(1)
    return first, second


def longer(request) -> str:
    first, second = slots(request)
    return json.dumps({"better": "A" if len(first) >= len(second) else "B"})


def always_a(request) -> str:
    return json.dumps({"better": "A"})


TASKS = [PairTask(a="x" * (i + 1), b="y" * (10 - i), key=str(i)) for i in range(10)]


def test_swaps_are_undone_so_the_longer_item_wins_whichever_slot_it_had():
    backend = ScriptedBackend(longer)
    judge = PairwiseJudge(backend, "answer", "Answers to questions.", seed=3)
    out = judge.compare(TASKS)
    assert {c.first for c in out} == {"a", "b"}, "some pairs must be swapped"
    for task, c in zip(TASKS, out, strict=True):
        assert c.p_a == (1.0 if len(task.a) >= len(task.b) else 0.0)
        assert c.calls == 1 and len(c.votes) == 1
    assert len(backend.requests) == len(TASKS)
    prompt = backend.requests[0].messages[1]["content"]
    assert "Answer A:" in prompt and "Which of the two is better?" in prompt


def test_a_judge_that_always_picks_the_first_slot_votes_half_with_both_orders():
    random_swap = PairwiseJudge(ScriptedBackend(always_a), "tweet", "Tweets.", seed=3).compare(
        TASKS)
    assert all(c.slots == ["first"] for c in random_swap)
    assert {c.p_a for c in random_swap} == {0.0, 1.0}  # pure noise from the coin
    both = PairwiseJudge(ScriptedBackend(always_a), "tweet", "Tweets.", both_orders=True,
                         seed=3)
    out = both.compare(TASKS)
    assert both.judges == 2 and all(c.p_a == 0.5 and c.calls == 2 for c in out)


def test_an_ensemble_averages_and_an_invalid_judge_abstains():
    good = ScriptedBackend(longer, model="good")
    broken = ScriptedBackend(lambda q: "not json", model="broken")
    judge = PairwiseJudge([good, broken], "answer", "Answers.", phrasings=2, seed=3,
                          max_attempts=2)
    out = judge.compare(TASKS[:4])
    assert judge.judges == 4 and judge.backend_models() == ["good", "broken"]
    for task, c in zip(TASKS[:4], out, strict=True):
        assert c.votes[2:] == [None, None] and c.slots[2:] == [None, None]
        assert c.p_a == (1.0 if len(task.a) >= len(task.b) else 0.0)
        assert c.calls == 2 + 2 * 2  # the broken judge was asked twice per phrasing
    alone = PairwiseJudge(broken, "answer", "Answers.", seed=3).compare(TASKS[:2])
    assert all(c.p_a is None for c in alone)
