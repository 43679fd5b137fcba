"""Task kinds: one file per kind, each registered in :data:`TASK_KINDS`.

Import a kind's module here to make it available to recipes.
"""

from synthloom.tasks import classification  # noqa: F401  (registers the kind)
from synthloom.tasks.base import TASK_KINDS, TaskSpec, quotas, register_kind
from synthloom.tasks.classification import ClassificationTask

__all__ = ["TASK_KINDS", "ClassificationTask", "TaskSpec", "quotas", "register_kind"]
