"""DiaSynth (Suresh et al., arXiv 2409.19020): layered dialogue generation.

Topic -> subtopics -> personas -> one dialogue per persona pair, written after a chain of
thought about the conversation's characteristics, then an optional summary.

- :mod:`~synthloom.operators.dialogue.parsing`: numbered lists, speaker names, the
  ``<cot>`` and ``<dialogue>`` parts of an answer;
- :mod:`~synthloom.operators.dialogue.layers`: the subtopic and persona list prompts with
  DiaSynth's ROUGE-L filter;
- :mod:`~synthloom.operators.dialogue.plan`: one draft per persona pair and subtopic;
- :mod:`~synthloom.operators.dialogue.diasynth`: the dialogue prompt (characteristics and
  chain of thought) and the summariser.
"""
