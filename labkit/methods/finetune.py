"""Fine-tuning ("None" in the papers' tables): the lower bound every method is measured against
(docs/METHODS.md, section 2)."""
from labkit.methods.base import Method, register


@register
class Finetune(Method):
    """Fine-tuning: train on each new task with the classification loss alone."""

    name = "finetune"
