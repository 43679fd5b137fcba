"""The streaming near-duplicate filter (real rensa MinHash and real MiniLM embedder)."""

from __future__ import annotations

import numpy as np
import pytest

from synthloom.operators.filter.near_duplicates import NearDuplicateFilter, shingles

BASE = "The striker scored twice in the cup final as the home side won three goals to one"


def test_shingles_are_word_trigrams_with_a_fallback_for_short_texts() -> None:
    assert shingles("A b c d") == ["a b c", "b c d"]
    assert shingles("Hi there") == ["hi", "there"]
    assert shingles("!!") == ["!!"]


def test_minhash_rejects_a_one_word_edit_and_names_the_original() -> None:
    f = NearDuplicateFilter(jaccard=0.6)
    edited = BASE.replace("twice", "again")
    hits = f.check([BASE, "Shares fell sharply after the bank reported weak profits", edited],
                   ["orig", "other", "copy"])
    assert hits[0] is None and hits[1] is None
    assert hits[2].stage == "minhash" and hits[2].key == "orig" and hits[2].similarity >= 0.6
    assert len(f) == 2


def test_duplicates_are_found_across_batches_and_within_one() -> None:
    f = NearDuplicateFilter(jaccard=0.9)
    assert f.check([BASE], ["a"]) == [None]
    later = f.check(["Something else entirely, about the weather in spring.", BASE, BASE],
                    ["b", "c", "d"])
    assert later[0] is None and later[1].key == "a" and later[2].key == "a"


def test_embedding_stage_catches_what_shares_no_shingle() -> None:
    class Fixed:  # a stand-in embedder: texts map to chosen unit vectors
        def embed(self, texts):
            table = {"x": [1.0, 0.0], "x'": [0.99, 0.141], "y": [0.0, 1.0]}
            return np.array([table[t] for t in texts], dtype=np.float32)

    f = NearDuplicateFilter(jaccard=None, cosine=0.95, embedder=Fixed())
    hits = f.check(["x", "y", "x'"], ["1", "2", "3"])
    assert hits[:2] == [None, None]
    assert hits[2].stage == "embedding" and hits[2].key == "1"
    assert hits[2].similarity == pytest.approx(0.99, abs=1e-3)


def test_real_embedder_rejects_an_exact_repeat_by_cosine() -> None:
    f = NearDuplicateFilter(jaccard=None, cosine=0.98)
    hits = f.check([BASE, "Shares fell sharply after weak profits.", BASE], ["a", "b", "c"])
    assert hits[0] is None and hits[1] is None and hits[2].key == "a"


@pytest.mark.parametrize(
    "kwargs", [{"jaccard": 1.5}, {"cosine": -0.1}, {"num_perm": 100, "bands": 32}]
)
def test_bad_settings_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        NearDuplicateFilter(**kwargs)


def test_bands_are_the_fewest_that_still_find_pairs_at_the_threshold() -> None:
    from synthloom.operators.filter.near_duplicates import lsh_bands

    assert lsh_bands(0.8, 128) == 16  # 8 rows: P(candidate | J=0.8) = 0.947
    assert lsh_bands(0.6, 128) == 32  # 8 rows would find only 24% of pairs at 0.6
    for j in (0.5, 0.7, 0.9):
        b = lsh_bands(j, 128)
        assert 1 - (1 - j ** (128 // b)) ** b >= 0.9
