"""Task kinds: one file per kind in this package, each registered in :data:`TASK_KINDS`.

Every module here is imported on import of the package, so adding a kind is adding a file
(a :class:`TaskSpec` subclass decorated with :func:`register_kind`).
"""

import importlib
import pkgutil

from synthloom.tasks.base import TASK_KINDS, TaskSpec, quotas, register_kind

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

from synthloom.tasks.classification import ClassificationTask  # noqa: E402

__all__ = ["TASK_KINDS", "ClassificationTask", "TaskSpec", "quotas", "register_kind"]
