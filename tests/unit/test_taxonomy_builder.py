"""The Simula taxonomy builder on a scripted backend: factors, best-of-N pooling, critic."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.operators.plan.taxonomy import load_taxonomies
from synthloom.operators.plan.taxonomy_builder import TaxonomyBuilder
from tests.unit.scripted import ScriptedBackend

LABELS = {"sport": "sports news", "tech": "technology news"}
PROPOSALS = {
    "sport": [["football", "tennis", "technology"], ["Football", "rugby", "cricket"]],
    "tech": [["phones", "sport gadgets", "software"], ["software", "chips", "phones"]],
}


def respond(request) -> str:
    user = request.messages[1]["content"]
    if "Choose the" in user:
        return json.dumps({"factors": ["tone", "audience", "tone"]})
    path = re.search(r"Category: (.+)", user).group(1).split(" > ")
    if "Candidate sub-categories" in user:
        candidates = re.search(r"Candidate sub-categories: (.+)", user).group(1).split(", ")
        return json.dumps({"children": candidates[:3]})
    if path[0] == "topic" and len(path) == 2:
        index = request.sampling.seed % 2
        return json.dumps({"children": PROPOSALS[path[1]][index]})
    return json.dumps({"children": [f"{path[-1]} a", f"{path[-1]} b"]})


def test_builder_keys_topic_by_labels_pools_proposals_and_drops_other_labels() -> None:
    backend = ScriptedBackend(respond)
    builder = TaxonomyBuilder(backend, "News snippets.", LABELS, factors=2, depth=2, breadth=3,
                              best_of=2, seed=1)
    taxonomies = builder.build()
    assert [t.factor for t in taxonomies] == ["topic", "tone", "audience"]
    topic = {n.name: [c.name for c in n.children] for n in taxonomies[0].nodes}
    assert list(topic) == ["sport", "tech"]
    # duplicates merged across proposals (case-insensitively); critic keeps 3; a child that
    # names another label ("technology" under sport, "sport gadgets" under tech) is dropped
    assert "technology" not in [c.casefold() for c in topic["sport"]]
    assert "sport gadgets" not in topic["tech"]
    assert len({c.casefold() for c in topic["sport"]}) == len(topic["sport"]) <= 3
    tone = taxonomies[1]
    assert [n.name for n in tone.nodes] == ["tone a", "tone b"]
    assert [c.name for c in tone.nodes[0].children] == ["tone a a", "tone a b"]
    # 1 factor call, then per expanded node best_of proposals + 1 critic
    expanded = 2 + 3 + 3  # topic: each label; tone and audience: root + 2 children
    assert builder.calls == 1 + expanded * 3 == len(backend.requests)


def test_cli_writes_a_loadable_taxonomy_and_refuses_an_empty_task(tmp_path, monkeypatch) -> None:
    from synthloom.pipeline import backends

    monkeypatch.setattr(backends, "make_backend",
                        lambda config, path: ScriptedBackend(respond))
    out = tmp_path / "tree.yaml"
    result = CliRunner().invoke(app, ["taxonomy", "News snippets.", "-o", str(out),
                                      "--depth", "1", "--best-of", "1"])
    assert result.exit_code == 0, result.output
    assert [t.factor for t in load_taxonomies(out)] == ["tone", "audience"]
    empty = CliRunner().invoke(app, ["taxonomy", " ", "-o", str(out)])
    assert empty.exit_code == 2 and "task description is empty" in empty.output
