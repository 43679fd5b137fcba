"""`synthloom calibrate`: a judge's agreement with people (labels: accuracy and kappa;
ratings: Spearman and Kendall), on VADER's human ratings and on a user's file."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from synthloom.api import calibrate
from synthloom.cli import app
from synthloom.errors import UserInputError
from synthloom.vader import read_vader_ratings
from tests.unit.scripted import ScriptedBackend

RECIPE = "recipes/vader_tweets_judge_calibration.yaml"


@pytest.fixture(scope="module")
def ratings() -> dict[str, float]:
    return {" ".join(text.split()[:120]): rating
            for _, rating, text in read_vader_ratings("vader_tweets")}


def people_like(ratings, noise: bool = False):
    """A scripted judge that answers as the people rated (or the reverse, with noise)."""
    def respond(request):
        user = request.messages[1]["content"]
        if "whole-number score" in user:
            text = re.search(r"Tweet: (.*)\n\nGrade it", user, re.S).group(1)
            score = round((ratings[" ".join(text.split())] + 4) * 10 / 8)
            return json.dumps({"positivity": 10 - score if noise else score})
        text = re.search(r"Text: (.*)\n\nWhich label", user, re.S).group(1)
        rating = ratings[" ".join(text.split())]
        return json.dumps({"label": "positive" if (rating > 0) != noise else "negative"})
    return respond


def test_a_judge_that_answers_as_people_did_agrees_with_them(ratings):
    result = calibrate(RECIPE, "vader_tweets", sample=40,
                       backend=ScriptedBackend(people_like(ratings)))
    cat, graded = result["categorical"], result["graded"]
    assert cat["n"] == 40 and cat["accuracy"] == 1.0 and cat["cohen_kappa"] == 1.0
    assert graded["n"] == 40 and graded["criteria"]["positivity"]["spearman"] > 0.95
    assert graded["mean"]["kendall"] > 0.85 and result["same_model_as_generator"] is True


def test_a_contrary_judge_shows_negative_agreement(ratings):
    result = calibrate(RECIPE, "vader_tweets", sample=40,
                       backend=ScriptedBackend(people_like(ratings, noise=True)))
    assert result["categorical"]["cohen_kappa"] < 0
    assert result["graded"]["criteria"]["positivity"]["spearman"] < -0.9


def test_a_rated_file_and_bad_inputs(tmp_path, ratings):
    rows = list(ratings.items())[:30]
    path = tmp_path / "rated.jsonl"
    path.write_text("".join(json.dumps({"text": t, "stars": r}) + "\n" for t, r in rows))
    result = calibrate(RECIPE, str(path), rating_column="stars", sample=30,
                       backend=ScriptedBackend(people_like(ratings)))
    assert result["categorical"] is None and result["graded"]["n"] == 30
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "a", "stars": "many"}) + "\n")
    with pytest.raises(UserInputError, match="'stars' is not numeric"):
        calibrate(RECIPE, str(bad), rating_column="stars", backend=ScriptedBackend(str))
    with pytest.raises(UserInputError, match="needs a judge.pointwise step whose criteria"):
        calibrate("recipes/vader_tweets.yaml", "vader_tweets", backend=ScriptedBackend(str))
    runner = CliRunner()
    result = runner.invoke(app, ["calibrate", "recipes/vader_tweets.yaml", "--real",
                                 "vader_tweets", "-o", str(tmp_path / "c")])
    assert result.exit_code == 2 and "judge.pointwise" in result.output
    assert len(result.output.strip().splitlines()) == 1
