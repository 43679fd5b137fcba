"""The registered step types. Import a step module here to make its types available.

See :mod:`synthloom.pipeline.steps.base` for roles and the reads/writes check.
"""

from typing import Annotated, Union

from pydantic import Field

from synthloom.pipeline.steps import coverage, filters, targen  # noqa: F401  (registers)
from synthloom.pipeline.steps.base import (
    ROLES,
    STEP_TYPES,
    StepConfig,
    StepContext,
    check_flow,
    register_step,
)

#: the discriminated union of every registered step config, on ``type``
AnyStep = Annotated[Union[tuple(STEP_TYPES.values())], Field(discriminator="type")]  # noqa: UP007

__all__ = ["ROLES", "STEP_TYPES", "AnyStep", "StepConfig", "StepContext", "check_flow",
           "register_step"]
