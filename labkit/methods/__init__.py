"""Methods, one file each, registered by name in `methods`."""
from labkit.methods import der, derpp, dlcft, er, ewc, finetune, joint, lucir, lwf, lwm, mas  # noqa: F401  (registration)
from labkit.methods.base import Method, Param, TaskContext, methods, register

__all__ = ["Method", "Param", "TaskContext", "methods", "register"]
