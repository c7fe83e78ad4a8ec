"""Methods, one file each, registered by name in `METHODS` (docs/METHODS.md, section 1: how each
section gives a method's formula, protocol and parameters)."""
from labkit.methods import der, derpp, dlcft, er, ewc, finetune, joint, lucir, lwf, lwm, mas  # noqa: F401  (registration)
from labkit.methods.base import METHODS, Method, Param, TaskContext, register

__all__ = ["METHODS", "Method", "Param", "TaskContext", "register"]
