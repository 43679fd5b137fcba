"""synthloom: synthetic training data with provenance, scored on real data.

``import synthloom`` gives :class:`Recipe`, :class:`Record`, :func:`load_recipe`,
:func:`generate`, :func:`evaluate` and :func:`label` (see :mod:`synthloom.api`); the CLI
calls the same functions.
"""

# the subpackage first: importing it later (evaluate() does) would rebind the name
# ``synthloom.evaluate`` from the function to the subpackage
import synthloom.evaluate  # noqa: F401  (an empty package: costs nothing)
from synthloom.api import evaluate, generate, label, read_run
from synthloom.errors import GenerationError, UserInputError
from synthloom.pipeline.recipe import Recipe, load_recipe
from synthloom.records import Origin, Record
from synthloom.tasks import ClassificationTask

__version__ = "0.1.0"

__all__ = [
    "ClassificationTask",
    "GenerationError",
    "Origin",
    "Recipe",
    "Record",
    "UserInputError",
    "evaluate",
    "generate",
    "label",
    "load_recipe",
    "read_run",
]
