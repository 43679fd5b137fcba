"""Teacher labelling without an LLM: labelling functions and the label models that combine
labellers' votes (majority vote, Dawid-Skene) into one label and a trust weight per record."""

from synthloom.operators.label.functions import (
    KeywordsRule,
    LabellerSpec,
    LabellingFunction,
    PythonLabeller,
    RegexRule,
    apply_labellers,
    build_labeller,
    build_labellers,
)
from synthloom.operators.label.label_model import (
    ABSTAIN,
    LabellerStats,
    LabelModelChoice,
    LabelModelOutput,
    choose_label_model,
    combine,
    dawid_skene,
    labeller_stats,
)

__all__ = [
    "ABSTAIN",
    "KeywordsRule",
    "LabelModelChoice",
    "LabelModelOutput",
    "LabellerSpec",
    "LabellerStats",
    "LabellingFunction",
    "PythonLabeller",
    "RegexRule",
    "apply_labellers",
    "build_labeller",
    "build_labellers",
    "choose_label_model",
    "combine",
    "dawid_skene",
    "labeller_stats",
]
