"""TarGEN: targeted data generation without seed examples (Gupta et al., arXiv 2310.17876).

Steps, each its own operator: contexts -> instance seeds -> label constraints ->
instance generation under the constraint -> self-correction (blind relabelling).
"""

from synthloom.operators.targen.contexts import ContextGeneration
from synthloom.operators.targen.instance_generation import InstanceGeneration
from synthloom.operators.targen.instance_seeds import InstanceSeedGeneration
from synthloom.operators.targen.label_constraints import LabelConstraintPlanner
from synthloom.operators.targen.self_correction import SelfCorrection

__all__ = [
    "ContextGeneration",
    "InstanceGeneration",
    "InstanceSeedGeneration",
    "LabelConstraintPlanner",
    "SelfCorrection",
]
