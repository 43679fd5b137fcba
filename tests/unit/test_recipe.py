"""Tests for synthloom.pipeline.recipe: loading, error messages with lines, quotas, hashing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from synthloom.errors import UserInputError
from synthloom.pipeline.recipe import Recipe, load_recipe, with_backend

SHIPPED = Path(__file__).resolve().parents[2] / "recipes" / "bbc_news_topics.yaml"

# line numbers matter in the tests below: keep this text's layout in sync with them
VALID = """\
task: topics
description: Short news snippets.
labels:
  business: companies and markets
  sport: football and other sports
  tech: computers and gadgets
n: 30
seed: 7
backend:
  kind: llamacpp
  model: qwen2.5-coder-0.5b
targen:
  contexts: 4
  max_words: 40
"""
#        line: 1 task, 2 description, 3 labels, 4-6 labels, 7 n, 8 seed,
#              9 backend, 10 kind, 11 model, 12 targen, 13 contexts, 14 max_words


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, **overrides) -> str:
    with pytest.raises(UserInputError) as info:
        load_recipe(write(tmp_path, text), **overrides)
    return str(info.value)


def line_in(message: str) -> int | None:
    m = re.search(r"\bline (\d+)\b", message)
    return int(m.group(1)) if m else None


def make(**kw) -> Recipe:
    data = {
        "task": "topics",
        "description": "news",
        "labels": {"a": "about a", "b": "about b", "c": "about c"},
    }
    return Recipe.model_validate({**data, **kw})


# ------------------------------------------------------------------ loading


def test_shipped_recipe_loads() -> None:
    recipe = load_recipe(SHIPPED)
    assert recipe.task.name == recipe.name == "bbc_news_topics"
    assert recipe.task.kind == "classification"
    assert recipe.n == 300
    assert len(recipe.labels) == 5
    assert set(recipe.labels) == {"business", "entertainment", "politics", "sport", "tech"}
    assert all(desc.strip() for desc in recipe.labels.values())
    assert recipe.backend.kind == "llamacpp"
    (draft,) = recipe.steps_of("draft")
    assert draft.distribution == "balanced"
    assert sum(recipe.label_quotas().values()) == 300
    assert set(recipe.label_quotas().values()) == {60}


def test_valid_recipe_loads_values(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, VALID))
    assert recipe.n == 30
    assert recipe.seed == 7
    assert list(recipe.labels) == ["business", "sport", "tech"]
    steps = {s.type: s for s in recipe.steps}
    assert steps["targen.contexts"].n == 4
    assert steps["targen.generate"].max_words == 40
    assert steps["targen.instance_seeds"].per_pair == 8  # default kept
    assert recipe.steps[0].type == "task.unit"  # no unit given: derived once
    assert recipe.targen is None  # the preset became steps


def test_load_accepts_str_path(tmp_path: Path) -> None:
    assert load_recipe(str(write(tmp_path, VALID))).name == "topics"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_not_a_mapping(tmp_path: Path) -> None:
    assert "mapping" in error_of(tmp_path, "- a\n- b\n")
    assert "mapping" in error_of(tmp_path, "")


# ------------------------------------------------------------ error messages


def test_unknown_top_level_field_names_field_and_line(tmp_path: Path) -> None:
    text = VALID.replace("seed: 7\n", "seed: 7\ntemprature: 0.5\n")  # line 9
    msg = error_of(tmp_path, text)
    assert "temprature" in msg
    assert "unknown field" in msg
    assert line_in(msg) == 9
    assert str(tmp_path / "recipe.yaml") in msg


def test_unknown_nested_field_names_dotted_path_and_line(tmp_path: Path) -> None:
    text = VALID.replace("  max_words: 40\n", "  max_words: 40\n  max_word: 40\n")  # line 15
    msg = error_of(tmp_path, text)
    assert "targen.max_word" in msg
    assert line_in(msg) == 15


def test_unknown_backend_field(tmp_path: Path) -> None:
    text = VALID.replace("  kind: llamacpp\n", "  kind: llamacpp\n  url: http://x\n")  # line 11
    msg = error_of(tmp_path, text)
    assert "backend.url" in msg
    assert line_in(msg) == 11


def test_missing_labels_names_labels(tmp_path: Path) -> None:
    text = re.sub(r"labels:\n(  .*\n)+", "", VALID)
    assert "labels" not in text
    msg = error_of(tmp_path, text)
    assert "labels" in msg
    assert "required" in msg.lower()


def test_one_label_is_an_error(tmp_path: Path) -> None:
    text = VALID.replace("  sport: football and other sports\n  tech: computers and gadgets\n", "")
    msg = error_of(tmp_path, text)
    assert "labels" in msg
    assert "two labels" in msg
    assert line_in(msg) == 3


def test_empty_label_description_is_an_error(tmp_path: Path) -> None:
    text = VALID.replace("tech: computers and gadgets", "tech: ' '")
    msg = error_of(tmp_path, text)
    assert "labels" in msg and "tech" in msg


def test_wrong_type_names_field_and_line(tmp_path: Path) -> None:
    msg = error_of(tmp_path, VALID.replace("n: 30", "n: many"))
    assert ": n:" in msg
    assert "integer" in msg
    assert line_in(msg) == 7


def test_nested_wrong_type_names_dotted_field_and_line(tmp_path: Path) -> None:
    msg = error_of(tmp_path, VALID.replace("contexts: 4", "contexts: lots"))
    assert "targen.contexts" in msg
    assert line_in(msg) == 13


def test_out_of_range_value(tmp_path: Path) -> None:
    msg = error_of(tmp_path, VALID.replace("n: 30", "n: 0"))
    assert ": n:" in msg
    assert line_in(msg) == 7


def test_bad_task_name(tmp_path: Path) -> None:
    msg = error_of(tmp_path, VALID.replace("task: topics", "task: news topics!"))
    assert "task" in msg
    assert line_in(msg) == 1


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    text = VALID.replace("seed: 7\n", 'seed: "unterminated\n')  # line 8
    msg = error_of(tmp_path, text)
    assert "not valid YAML" in msg
    assert line_in(msg) is not None


def test_invalid_yaml_bad_indentation_line(tmp_path: Path) -> None:
    text = VALID.replace("  contexts: 4\n", "  contexts: 4\n    bad: [1, 2\n")  # line 14
    msg = error_of(tmp_path, text)
    assert "not valid YAML" in msg
    assert line_in(msg) == 14


def test_invalid_yaml_unclosed_flow_at_line(tmp_path: Path) -> None:
    text = "task: t\ndescription: d\nlabels: {a: x, b: y\nn: 3\n"
    msg = error_of(tmp_path, text)
    assert "not valid YAML" in msg
    assert line_in(msg) in (3, 4, 5)


def test_distribution_unknown_label_is_an_error(tmp_path: Path) -> None:
    text = VALID.replace(
        "  contexts: 4\n", "  contexts: 4\n  label_distribution:\n    sport: 2\n    crime: 1\n"
    )
    msg = error_of(tmp_path, text)
    assert "distribution" in msg
    assert "crime" in msg


def test_distribution_negative_weight_is_an_error() -> None:
    with pytest.raises(ValueError, match="sum > 0"):
        make(targen={"label_distribution": {"a": -1.0, "b": 2.0}})
    with pytest.raises(ValueError, match="sum > 0"):
        make(targen={"label_distribution": {"a": 0.0}})


def test_distribution_bad_string() -> None:
    with pytest.raises(ValueError):
        make(targen={"label_distribution": "skewed"})


def test_http_backend_without_base_url(tmp_path: Path) -> None:
    msg = error_of(tmp_path, VALID.replace("kind: llamacpp", "kind: openai_http"))
    assert "backend" in msg
    assert "base_url" in msg
    assert line_in(msg) == 9


def test_unknown_backend_kind(tmp_path: Path) -> None:
    msg = error_of(tmp_path, VALID.replace("kind: llamacpp", "kind: vllm"))
    assert "backend.kind" in msg
    assert line_in(msg) == 10


def test_python_construction_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError):
        make(bogus=1)


# ------------------------------------------------------------------ overrides


def test_overrides_replace_top_level_fields(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    assert load_recipe(path, n=5).n == 5
    assert load_recipe(path, n=5, seed=99).seed == 99
    assert load_recipe(path, n=None).n == 30  # None means "not given"
    assert load_recipe(path).n == 30  # the file itself is unchanged


def test_override_validated(tmp_path: Path) -> None:
    msg = error_of(tmp_path, VALID, n=-3)
    assert ": n:" in msg


def test_override_changes_sha(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    assert load_recipe(path, n=5).sha256() != load_recipe(path).sha256()


# -------------------------------------------------------------------- quotas


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 100, 301])
def test_balanced_quotas(n: int) -> None:
    labels = {f"l{i}": f"label {i}" for i in range(5)}
    quotas = make(labels=labels, n=n).label_quotas()
    assert set(quotas) == set(labels)
    assert sum(quotas.values()) == n
    assert max(quotas.values()) - min(quotas.values()) <= 1
    assert all(q >= 0 for q in quotas.values())


def test_quotas_follow_distribution() -> None:
    r = make(n=100, targen={"label_distribution": {"a": 3, "b": 1, "c": 1}})
    assert r.label_quotas() == {"a": 60, "b": 20, "c": 20}


def test_quotas_follow_distribution_with_rounding() -> None:
    r = make(n=10, targen={"label_distribution": {"a": 1, "b": 1, "c": 1}})
    quotas = r.label_quotas()
    assert sum(quotas.values()) == 10
    assert sorted(quotas.values()) == [3, 3, 4]

    r = make(n=7, targen={"label_distribution": {"a": 0.5, "b": 0.3, "c": 0.2}})
    # raw 3.5, 2.1, 1.4 -> floors 3, 2, 1; the largest remainder (a: .5) gets the spare one
    assert r.label_quotas() == {"a": 4, "b": 2, "c": 1}

    r = make(n=7, targen={"label_distribution": {"a": 0.2, "b": 0.3, "c": 0.5}})
    # raw 1.4, 2.1, 3.5: the spare one goes to c (largest remainder), not to the first label
    assert r.label_quotas() == {"a": 1, "b": 2, "c": 4}


def test_quotas_unnamed_label_gets_zero() -> None:
    r = make(n=9, targen={"label_distribution": {"a": 2, "b": 1}})
    assert r.label_quotas() == {"a": 6, "b": 3, "c": 0}


def test_quotas_are_deterministic() -> None:
    r = make(n=11)
    assert r.label_quotas() == r.label_quotas() == make(n=11).label_quotas()


# -------------------------------------------------------------------- hashing


def test_sha256_stable() -> None:
    assert make().sha256() == make().sha256()
    assert len(make().sha256()) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"task": "topics2"},
        {"description": "other"},
        {"labels": {"a": "about a", "b": "about b", "c": "about C"}},
        {"labels": {"a": "about a", "b": "about b", "d": "about c"}},
        {"n": 301},
        {"seed": 14},
        {"backend": {"model": "other-model"}},
        {"sampling": {"temperature": 0.5}},
        {"sampling": {"top_p": 0.9}},
        {"targen": {"contexts": 9}},
        {"targen": {"self_correction": False}},
        {"targen": {"instance_format": "json"}},
        {"targen": {"label_distribution": {"a": 2, "b": 1, "c": 1}}},
    ],
)
def test_sha256_changes_with_any_field(change: dict) -> None:
    assert make(**change).sha256() != make().sha256()


# -------------------------------------------------------------- with_backend


def test_with_backend_base_url_switches_to_http() -> None:
    r = make()
    assert r.backend.kind == "llamacpp"
    h = with_backend(r, base_url="http://127.0.0.1:8080/v1")
    assert h.backend.kind == "openai_http"
    assert h.backend.base_url == "http://127.0.0.1:8080/v1"
    assert h.backend.model == r.backend.model
    assert r.backend.kind == "llamacpp"  # the original is unchanged
    assert h.sha256() != r.sha256()
    # the rest of the recipe is kept
    assert h.model_dump(exclude={"backend"}) == r.model_dump(exclude={"backend"})


def test_with_backend_model_only_keeps_kind() -> None:
    r = make()
    m = with_backend(r, model="other")
    assert m.backend.kind == "llamacpp"
    assert m.backend.model == "other"
    both = with_backend(r, model="served", base_url="http://h/v1")
    assert (both.backend.kind, both.backend.model, both.backend.base_url) == (
        "openai_http",
        "served",
        "http://h/v1",
    )


def test_with_backend_nothing_changes_nothing() -> None:
    r = make()
    assert with_backend(r) == r


def test_http_kind_without_base_url_rejected_in_python() -> None:
    with pytest.raises(ValueError, match="base_url"):
        make(backend={"kind": "openai_http"})
    ok = make(backend={"kind": "openai_http", "base_url": "http://h/v1"})
    assert ok.backend.kind == "openai_http"


_GOOD = "task: t\ndescription: d\nlabels:\n  a: x\n  b: y\nn: 30\n"


def test_override_error_does_not_blame_a_file_line(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(_GOOD)
    with pytest.raises(UserInputError) as e:
        load_recipe(p, n=-3)
    assert "line 6" not in str(e.value) and "command line" in str(e.value)


def test_unterminated_quote_points_at_its_line(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(_GOOD.replace("description: d", 'description: "d'))
    with pytest.raises(UserInputError, match="line 2"):
        load_recipe(p)


def test_duplicate_key_is_rejected_with_its_line(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(_GOOD + "n: 7\n")
    with pytest.raises(UserInputError, match="line 7: n: given twice"):
        load_recipe(p)


def test_every_shipped_recipe_loads() -> None:
    from pathlib import Path

    from synthloom.pipeline.recipe import load_recipe

    paths = sorted(Path("recipes").glob("*.yaml"))
    recipes = [load_recipe(p) for p in paths if "taxonomy" not in p.name]
    assert len(recipes) >= 6
    coverage = load_recipe("recipes/bbc_news_coverage.yaml")
    steps = {s.type: s for s in coverage.steps}
    assert steps["coverage.plan"].taxonomy.endswith("recipes/bbc_news_taxonomy.yaml")
    assert steps["filter.near_duplicates"].jaccard == 0.6 and steps["coverage.plan"].personas
