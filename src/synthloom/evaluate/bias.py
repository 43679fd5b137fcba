"""Bias checks of a synthetic set against real data, and of the judges that scored it.

- Vocabulary skew: per label, words the generator over-uses for that label compared with
  real texts of the same label (a stereotype of the class, or a tell of the generator).
- Term rates: occurrences per 1,000 words of a few demographic and regional term groups,
  synthetic against real. The word lists below are a short heuristic, not a lexicon of
  identity: they miss most terms, catch words used in other senses ("her", "old", "english"
  as a language) and say nothing about how a group is described. A large ratio is a
  pointer to read texts, not a measurement of fairness.
- Position bias: how often a pairwise judge prefers whatever it was shown first (an unbiased
  judge that sees each order equally often prefers the first slot half the time).
- Length correlation: Spearman's rho between a pointwise judge's score and text length in
  words (judges that favour longer answers: "verbosity bias", Zheng et al. 2023, arXiv
  2306.05685).

Tokens here are lower-cased runs of ASCII letters (``[a-z]+``).
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from synthloom.records import Record

_ALPHA = re.compile(r"[a-z]+")

TERM_GROUPS: dict[str, frozenset[str]] = {
    "gender_female": frozenset(
        "she her hers herself woman women girl girls mother mothers daughter daughters wife "
        "wives sister sisters mrs ms female females lady ladies queen grandmother".split()),
    "gender_male": frozenset(
        "he him his himself man men boy boys father fathers son sons husband husbands brother "
        "brothers mr male males gentleman gentlemen king grandfather".split()),
    "age": frozenset(
        "young younger youth youngster youngsters old older elderly teenager teenagers teen "
        "teens child children kid kids baby babies pensioner pensioners retired retiree "
        "senior seniors adult adults aged".split()),
    "religion": frozenset(
        "religion religious christian christians christianity church muslim muslims islam "
        "islamic mosque jewish jew jews judaism synagogue hindu hindus hinduism temple sikh "
        "sikhs buddhist buddhism catholic protestant atheist god faith prayer bible quran"
        .split()),
    "nationality_or_region": frozenset(
        "american americans british english scottish welsh irish french german chinese "
        "japanese indian african european asian russian arab mexican australian canadian "
        "london america britain england scotland wales ireland france germany china japan "
        "india africa europe asia russia mexico australia canada usa uk".split()),
}
"""Term groups counted by :func:`term_rates`: single lower-cased words, a heuristic (see the
module docstring). Stop words ("she", "his") are counted here."""
_GROUPS_OF: dict[str, tuple[str, ...]] = {
    w: tuple(g for g, ws in TERM_GROUPS.items() if w in ws) for ws in TERM_GROUPS.values()
    for w in ws}


def alpha_tokens(text: str) -> list[str]:
    """Lower-cased alphabetic tokens of ``text`` (stop words kept)."""
    return _ALPHA.findall(text.lower())


def content_words(text: str) -> list[str]:
    """:func:`alpha_tokens` without scikit-learn's ``ENGLISH_STOP_WORDS``."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return [w for w in alpha_tokens(text) if w not in ENGLISH_STOP_WORDS]


def vocabulary_skew(
    synthetic_texts: Sequence[str],
    synthetic_labels: Sequence[str],
    real_texts: Sequence[str],
    real_labels: Sequence[str],
    *,
    top: int = 8,
    min_count: int = 5,
    min_ratio: float = 2.0,
) -> dict[str, list[dict[str, Any]]]:
    """Per label, the words far more frequent in synthetic texts of that label than in real
    texts of the same label.

    Words are :func:`content_words` (stop words removed). For a word with ``c_s`` occurrences
    among the ``N_s`` words of the label's synthetic texts and ``c_r`` among the ``N_r`` of
    its real texts, the ratio is of rates smoothed by adding 1/2 to both counts
    (Haldane-Anscombe): ``((c_s + 0.5) / N_s) / ((c_r + 0.5) / N_r)``, finite for a word real
    texts never use, and shrunk towards 1 for rare words.

    Args:
        synthetic_texts, synthetic_labels: the synthetic set, aligned.
        real_texts, real_labels: real data, aligned.
        top: most words kept per label.
        min_count: fewest occurrences in the label's synthetic texts for a word to count.
        min_ratio: smallest smoothed ratio kept ("far more frequent").

    Returns:
        ``{label: [{"word", "synthetic_rate", "real_rate", "ratio"}]}`` for every label with
        both synthetic and real words, highest ratio first (ties by word); rates are raw
        occurrences per 1,000 words (rounded to 3 places), the ratio the smoothed one (to 2).

    Raises:
        ValueError: texts and labels differ in length.
    """
    syn = _counts_by_label(synthetic_texts, synthetic_labels)
    real = _counts_by_label(real_texts, real_labels)
    out: dict[str, list[dict[str, Any]]] = {}
    for label in sorted(set(syn) & set(real)):
        s, r = syn[label], real[label]
        n_s, n_r = sum(s.values()), sum(r.values())
        if not n_s or not n_r:
            continue
        rows = []
        for word, c_s in s.items():
            if c_s < min_count:
                continue
            ratio = ((c_s + 0.5) / n_s) / ((r[word] + 0.5) / n_r)
            if ratio >= min_ratio:
                rows.append({"word": word, "synthetic_rate": round(1000 * c_s / n_s, 3),
                             "real_rate": round(1000 * r[word] / n_r, 3),
                             "ratio": round(ratio, 2), "_sort": ratio})
        rows.sort(key=lambda row: (-row["_sort"], row["word"]))
        out[label] = [{k: v for k, v in row.items() if k != "_sort"} for row in rows[:top]]
    return out


def _counts_by_label(texts: Sequence[str], labels: Sequence[str]) -> dict[str, Counter[str]]:
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts and {len(labels)} labels")
    out: dict[str, Counter[str]] = {}
    for text, label in zip(texts, labels, strict=True):
        out.setdefault(str(label), Counter()).update(content_words(text))
    return out


def term_rates(texts: Iterable[str]) -> dict[str, float]:
    """Occurrences per 1,000 words (:func:`alpha_tokens`, stop words kept) of each group of
    :data:`TERM_GROUPS` across ``texts``; every rate is 0.0 when there are no words."""
    counts: Counter[str] = Counter()
    total = 0
    for text in texts:
        tokens = alpha_tokens(text)
        total += len(tokens)
        counts.update(g for t in tokens for g in _GROUPS_OF.get(t, ()))
    return {g: (1000 * counts[g] / total if total else 0.0) for g in TERM_GROUPS}


def compare_term_rates(
    synthetic_texts: Iterable[str], real_texts: Iterable[str]
) -> list[dict[str, Any]]:
    """:func:`term_rates` of both sets side by side.

    Returns:
        ``[{"group", "synthetic", "real", "ratio"}]`` in :data:`TERM_GROUPS` order: rates per
        1,000 words (rounded to 3 places) and synthetic / real (to 2; None when real is 0).
    """
    syn, real = term_rates(synthetic_texts), term_rates(real_texts)
    return [{"group": g, "synthetic": round(syn[g], 3), "real": round(real[g], 3),
             "ratio": round(syn[g] / real[g], 2) if real[g] else None} for g in TERM_GROUPS]


def position_bias(records: Iterable[Record]) -> dict[str, Any] | None:
    """How often pairwise judges preferred the item in the first slot.

    Reads every ``pairwise`` verdict's ``detail["comparisons"]``; comparisons whose
    ``preferred_slot`` is ``"first"`` or ``"second"`` count (ties and failures do not).

    Returns:
        ``{"n", "first", "first_rate", "low", "high", "p_value"}``: comparisons counted,
        those won by the first slot, their share, its 95% Clopper-Pearson interval
        (:meth:`scipy.stats.binomtest` ``.proportion_ci``) and the two-sided binomial test
        p-value against 0.5; None when no comparison counts.
    """
    from scipy.stats import binomtest

    slots = [c.get("preferred_slot") for r in records for v in r.verification
             if v.check == "pairwise" for c in v.detail.get("comparisons") or []]
    slots = [s for s in slots if s in ("first", "second")]
    if not slots:
        return None
    first = slots.count("first")
    test = binomtest(first, len(slots), 0.5)
    ci = test.proportion_ci(confidence_level=0.95)
    return {"n": len(slots), "first": first, "first_rate": round(first / len(slots), 4),
            "low": round(float(ci.low), 4), "high": round(float(ci.high), 4),
            "p_value": round(float(test.pvalue), 4)}


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def record_length(record: Record) -> int:
    """A record's length in whitespace-separated words: its ``text``, or for kinds without
    one the longest string among its inputs and outputs (0 when it has none)."""
    text = record.text or max(_strings([record.inputs, record.outputs]), key=len, default="")
    return len(text.split())


def length_correlation(records: Iterable[Record]) -> dict[str, Any] | None:
    """Spearman's rho between each record's pointwise judge score (its latest ``judge``
    verdict with a score) and its length (:func:`record_length`).

    Returns:
        ``{"n", "spearman", "p_value"}`` (rho None when undefined: every score or every
        length alike), or None with fewer than 3 scored records.
    """
    from scipy.stats import spearmanr

    pairs = [(v.score, record_length(r)) for r in records
             if (v := r.verdict("judge")) is not None and v.score is not None]
    if len(pairs) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConstantInputWarning: NaN, reported as None
        result = spearmanr([p[0] for p in pairs], [p[1] for p in pairs])
    rho, p = float(result.statistic), float(result.pvalue)
    return {"n": len(pairs), "spearman": None if math.isnan(rho) else round(rho, 4),
            "p_value": None if math.isnan(p) else round(p, 4)}
