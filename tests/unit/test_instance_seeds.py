"""TarGEN step 2 (instance seeds): a (label, context) pair that comes back with under half
the seeds asked for is asked once more with another sampler seed, and the answers are
merged without duplicates; a pair with enough seeds is asked once."""

from __future__ import annotations

from synthloom.llm.base import ChatRequest
from synthloom.operators.targen.instance_seeds import InstanceSeedGeneration
from tests.unit.scripted import ScriptedBackend

LABELS = {"tech": "computers and phones", "sport": "football and tennis"}


def test_a_short_pair_is_asked_again_and_merged_without_duplicates() -> None:
    answers = iter([
        "- A laptop battery catches fire at home",
        "- A laptop battery catches fire at home\n- A school buys forty new tablets",
    ])

    def scripted(request: ChatRequest) -> str:
        if "Label: sport" in request.messages[-1]["content"]:
            return "\n".join(f"- A tennis player wins match number {i}" for i in range(4))
        return next(answers)

    backend = ScriptedBackend(scripted)
    seeds = InstanceSeedGeneration(backend, "Texts.", LABELS, 4).run(
        {"tech": ["a town"], "sport": ["a club"]})
    assert seeds["tech"]["a town"] == ["A laptop battery catches fire at home",
                                       "A school buys forty new tablets"]
    assert len(seeds["sport"]["a club"]) == 4
    tech = [r for r in backend.requests if "Label: tech" in r.messages[-1]["content"]]
    assert len(tech) == 2 and tech[0].sampling.seed != tech[1].sampling.seed
    assert len(backend.requests) == 3  # sport, with 4 of 4, is not asked again
