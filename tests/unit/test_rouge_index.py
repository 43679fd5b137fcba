"""RougeLIndex: agrees with rouge_score, finds what a brute-force scan finds, scans little."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from synthloom.operators.instruct.rouge_index import RougeLIndex, jaccard_bound, numbered_tokens

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
FUNCTION = ("the a an of to in for on with and or that this is are be as by from it at your my "
            "me you what how which about into than then each all some").split()
VERBS = ("write explain describe list summarize compare rewrite classify translate suggest give "
         "find identify create plan outline convert sort calculate name").split()
SYLLABLES = "ka lo mi ne su ta ri po ve da zu fi ga he jo ku".split()


def rouge_l(a: str, b: str) -> float:
    return SCORER.score(a, b)["rougeL"].fmeasure


def _vocabulary(rng: random.Random, n: int = 3000) -> list[str]:
    return sorted({"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
                   for _ in range(n)})


def _instruction(rng: random.Random, words: list[str], weights: list[float] | None = None) -> str:
    """6-24 words: a verb, then 40% function words and 60% content words."""
    out = [rng.choice(VERBS)]
    while len(out) < rng.randint(6, 24):
        out.append(rng.choice(FUNCTION) if rng.random() < 0.4
                   else rng.choices(words, weights)[0])
    return " ".join(out).capitalize() + "."


def _variant(rng: random.Random, text: str, words: list[str]) -> str:
    """0-6 random word substitutions, deletions, insertions or swaps of ``text``."""
    tokens = text.rstrip(".").split()
    for _ in range(rng.randint(0, 6)):
        op, i = rng.random(), rng.randrange(len(tokens))
        if op < 0.4:
            tokens[i] = rng.choice(words + FUNCTION)
        elif op < 0.65 and len(tokens) > 4:
            del tokens[i]
        elif op < 0.9:
            tokens.insert(i, rng.choice(words + FUNCTION))
        else:
            j = rng.randrange(len(tokens))
            tokens[i], tokens[j] = tokens[j], tokens[i]
    return " ".join(tokens) + "."


def near_paraphrases(n: int, seed: int, bases: int = 20) -> list[str]:
    """``n`` variants of ``bases`` instructions: many pairs around ROUGE-L 0.7."""
    rng = random.Random(seed)
    words = _vocabulary(rng)
    base = [_instruction(rng, words) for _ in range(bases)]
    return [_variant(rng, rng.choice(base), words) for _ in range(n)]


def test_scores_agree_with_rouge_score_on_hand_cases() -> None:
    index = RougeLIndex()
    cases = [("The cat sat on the mat", "the cat is on a mat", 2 / 3),
             ("Give me three tips for staying healthy.",
              "Give me three tips for staying focused at work.", 0.75),
             ("Sort a list of numbers.", "Translate this sentence into French.", 0.0)]
    for a, b, expected in cases:
        assert index.score(a, b) == pytest.approx(expected)
        assert index.score(a, b) == pytest.approx(rouge_l(a, b))
    index.add("tips", cases[1][0])
    index.add("sort", cases[2][0])
    assert index.find(cases[1][1]) == ("tips", pytest.approx(0.75))
    assert index.find("Write a haiku about the first snow of winter.") is None
    assert index.find("give me THREE tips, for staying healthy!") == ("tips", 1.0)
    assert (index.queries, len(index)) == (3, 2)


def test_repeated_tokens_are_counted_as_a_multiset() -> None:
    # F = 0.8 but the plain token sets {x, y} and {x, z} have Jaccard 1/3
    a, b = "x x x x x x y", "x x x x x x z"
    assert rouge_l(a, b) == pytest.approx(6 / 7)
    assert numbered_tokens(["x", "x", "y", "x"]) == ["x", "x#2", "y", "x#3"]
    index = RougeLIndex()
    index.add("a", a)
    assert index.find(b) == ("a", pytest.approx(6 / 7))


def test_most_similar_key_is_returned_and_removed_keys_are_forgotten() -> None:
    index = RougeLIndex()
    index.add("far", "Give me five tips for staying calm before an exam at school.")
    index.add("near", "Give me five tips for staying calm before an exam.")
    key, f = index.find("Give me five tips for staying calm before a big exam.")
    assert key == "near" and f == pytest.approx(rouge_l(
        "Give me five tips for staying calm before an exam.",
        "Give me five tips for staying calm before a big exam."))
    assert index.remove("near") and not index.remove("near")
    assert index.find("Give me five tips for staying calm before a big exam.")[0] == "far"
    assert len(index) == 1


def test_text_without_rouge_tokens_matches_nothing_but_is_counted() -> None:
    index = RougeLIndex()
    index.add("zh", "写一首诗")
    assert index.find("写一首诗") is None  # rouge_score: no tokens, F = 0
    assert len(index) == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_finds_what_brute_force_finds(seed: int) -> None:
    """Each text is looked up among all earlier ones: whenever brute force finds one at
    ROUGE-L >= 0.7 the index must too (query recall), and whatever it returns is exact."""
    texts = near_paraphrases(300, seed)
    index = RougeLIndex()
    wanted = found = best_agrees = 0
    for j, text in enumerate(texts):
        brute = max((rouge_l(texts[i], text) for i in range(j)), default=0.0)
        hit = index.find(text)
        if hit is not None:  # precision is exact: the score is the real one
            assert hit[1] >= 0.7 and hit[1] == pytest.approx(rouge_l(texts[int(hit[0])], text))
        if brute >= 0.7:
            wanted += 1
            found += hit is not None
            best_agrees += hit is not None and hit[1] == pytest.approx(brute)
        else:
            assert hit is None
        index.add(str(j), text)
    # measured: seed 0: 187/187 found (best match each time); seed 1: 195/197; over
    # seeds 0-7 the worst was 194/197 (0.985), all together 1500/1505 (0.997)
    assert wanted > 150  # the generator makes many near pairs
    assert found / wanted >= 0.97
    assert best_agrees == found
    # measured ~1,500 exact comparisons, 5 a query (each text has ~15 near siblings);
    # brute force makes 44,850
    assert index.exact_comparisons < 3000


def test_exact_comparisons_are_few_on_diverse_text() -> None:
    rng = random.Random(7)
    words = _vocabulary(rng)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(words))]  # Zipf-like word use
    texts = [_instruction(rng, words, weights) for _ in range(2000)]
    index = RougeLIndex()
    kept = 0
    for i, text in enumerate(texts):
        if index.find(text) is None:
            index.add(str(i), text)
            kept += 1
    assert index.queries == 2000 and kept > 1990
    # a scan would make ~1,000 exact comparisons per query; measured: 45 in all
    assert index.exact_comparisons / index.queries < 0.5


def test_default_parameters_follow_the_jaccard_bound() -> None:
    index = RougeLIndex()
    assert jaccard_bound(0.7) == pytest.approx(0.7 / 1.3)
    assert index.candidate_jaccard == pytest.approx(0.7 / 1.3 - 0.1)
    assert (index.num_perm, index.bands) == (128, 32)
    with pytest.raises(ValueError, match="threshold"):
        RougeLIndex(0.0)
    with pytest.raises(ValueError, match="divisible"):
        RougeLIndex(bands=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("ab cd ef gh ij".split()), min_size=1, max_size=12),
       st.lists(st.sampled_from("ab cd ef gh ij".split()), min_size=1, max_size=12))
def test_rouge_l_bounds_multiset_jaccard(a: list[str], b: list[str]) -> None:
    """The recall argument: ROUGE-L F implies numbered-unigram Jaccard >= F / (2 - F)."""
    f = rouge_l(" ".join(a), " ".join(b))
    sa, sb = set(numbered_tokens(a)), set(numbered_tokens(b))
    assert len(sa & sb) / len(sa | sb) >= jaccard_bound(f) - 1e-12
    assert Counter(numbered_tokens(a)) == Counter(sa)  # numbering makes every token unique
