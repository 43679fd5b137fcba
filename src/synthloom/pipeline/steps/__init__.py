"""The registered step types: every module in this package is imported on import of the
package, so adding a step type is adding a file (a :class:`StepConfig` subclass decorated
with :func:`register_step`).

See :mod:`synthloom.pipeline.steps.base` for roles and the reads/writes check.
"""

import importlib
import pkgutil
from typing import Annotated, Union

from pydantic import Field

from synthloom.pipeline.steps.base import (
    ROLES,
    STEP_TYPES,
    StepConfig,
    StepContext,
    check_flow,
    register_step,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

#: the discriminated union of every registered step config, on ``type``
AnyStep = Annotated[Union[tuple(STEP_TYPES.values())], Field(discriminator="type")]  # noqa: UP007

__all__ = ["ROLES", "STEP_TYPES", "AnyStep", "StepConfig", "StepContext", "check_flow",
           "register_step"]
