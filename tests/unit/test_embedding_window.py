"""Long texts embedded whole (128-token windows, mean-pooled) and the window's cost
reported (issue 10: the embedding student read only the first 128 tokens)."""

from __future__ import annotations

import numpy as np

from synthloom.evaluate.students import make_student
from synthloom.llm.embeddings import SentenceEmbedder

SHORT = "The central bank raised interest rates again on Thursday."
# a long text whose first 128 tokens are about one thing and the rest about another
LONG = ("The match began in light rain and the home side scored early. " * 12
        + "Then the talk turned to software, chips, laptops and the internet. " * 24)


def test_a_long_text_is_embedded_whole_and_a_short_one_as_before():
    first, whole = SentenceEmbedder(), SentenceEmbedder(max_chunks=8)
    a, b = first.embed([SHORT, LONG]), whole.embed([SHORT, LONG])
    # one window: the same vector (up to int8 activations quantised per batch)
    assert a[0] @ b[0] > 0.99
    assert np.isclose(np.linalg.norm(b[1]), 1.0, atol=1e-5)
    tech = first.embed(["Software, chips, laptops and the internet."])[0]
    assert b[1] @ tech > a[1] @ tech + 0.05  # the whole text's end is seen


def test_the_window_cost_counts_the_texts_cut_and_the_tokens_unseen():
    cost = SentenceEmbedder().window_cost([SHORT, LONG])
    assert cost["share_cut"] == 0.5 and 0.5 < cost["share_tokens_unseen"] < 1.0
    assert SentenceEmbedder(max_chunks=8).window_cost([SHORT])["share_cut"] == 0.0


def test_the_whole_text_student_is_a_known_student():
    student = make_student("embedding-lr-whole", seed=1)
    student.fit([SHORT, LONG, SHORT + " Shares fell.", LONG + " More."],
                ["a", "b", "a", "b"])
    assert list(student.predict([SHORT])) == ["a"]
