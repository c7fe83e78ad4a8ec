"""Methods, one file each, registered by name in `methods`."""
from labkit.methods import ewc, finetune, joint, lucir, lwf, lwm  # noqa: F401  (registration)
from labkit.methods.base import Method, Param, TaskContext, methods, register

__all__ = ["Method", "Param", "TaskContext", "methods", "register"]
