"""Named starting configs: the papers' protocols for a GPU and quick versions for a CPU.
Any field given beside a preset (command line or RunConfig.replace) overrides it."""
from __future__ import annotations

from labkit.config import RunConfig
from labkit.registry import Registry

presets: Registry[RunConfig] = Registry("preset")

# "Rethinking softmax": the released code's protocol (FACIL): CIFAR-100 with a seed-0 class
# shuffle, 10 equal tasks, 10% of train held out, ResNet-32 from scratch, one head per task
# trained task-aware and evaluated both ways, SGD lr 0.1 (FACIL's momentum 0), batch 64, up to 200
# epochs with lr / 3 after 5 epochs without a better validation loss, stop below 1e-4, old heads
# frozen, no exemplars.
RETHINKING = dict(scenario="task-il", val_fraction=0.1, optimizer="sgd", lr=0.1, momentum=0.0,
                  batch_size=64, lr_factor=3.0, lr_min=1e-4, freeze_old_heads=True, method="lwf")

presets.register("rethinking-cifar100", "Rethinking softmax's CIFAR-100 protocol (GPU: 10 tasks, ResNet-32, 200 epochs)")(
    RunConfig(dataset="cifar100", tasks=10, backbone="resnet32", epochs=200, lr_patience=5, **RETHINKING))
presets.register("rethinking-fashion", "the same protocol, quick: Fashion-MNIST, 5 tasks, MLP, 8 epochs (CPU, about half a minute a run)")(
    RunConfig(dataset="fashion_mnist", tasks=5, backbone="mlp", epochs=8, lr_patience=2, **RETHINKING))
presets.register("rethinking-digits", "the same protocol, quicker: digits, 5 tasks, MLP, 20 epochs (CPU, seconds)")(
    RunConfig(dataset="digits", tasks=5, backbone="mlp", epochs=20, lr_patience=3, **RETHINKING))
