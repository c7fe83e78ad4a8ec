"""Named starting configs: the papers' protocols for a GPU and quick versions for a CPU.
Any field given beside a preset (command line or RunConfig.replace) overrides it."""
from __future__ import annotations

import dataclasses

from labkit.config import RunConfig
from labkit.registry import Registry

PRESETS: Registry[RunConfig] = Registry("preset")

# "Rethinking softmax": the released code's protocol (FACIL): CIFAR-100 with FACIL's class
# shuffle for the seed (seed 0 in the paper), 10 equal tasks, 10% of each class's training images
# held out (FACIL's stratified split), ResNet-32 from scratch, one head per task trained
# task-aware and evaluated both ways, SGD lr 0.1 (FACIL's momentum 0), batch 64, up to 200 epochs
# with lr / 3 after 5 epochs without a better validation loss, stop below 1e-4, old heads frozen,
# no exemplars.
RETHINKING = dict(scenario="task-il", val_fraction=0.1, class_order="facil", val_split="stratified",
                  optimizer="sgd", lr=0.1, momentum=0.0,
                  batch_size=64, lr_factor=3.0, lr_min=1e-4, freeze_old_heads=True, method="lwf")
# the GPU path for the full protocols: FACIL's and DLCFT's CIFAR augmentation (random crop with
# 4-pixel padding, horizontal flip) done on the device, bf16 autocast, channels-last convolutions
GPU_PATH = dict(augment=True, amp=True, channels_last=True)

PRESETS.register("rethinking-cifar100", "Rethinking softmax's CIFAR-100 protocol (GPU: 10 tasks, ResNet-32, 200 epochs)")(
    RunConfig(dataset="cifar100", tasks=10, backbone="resnet32", epochs=200, lr_patience=5, **RETHINKING, **GPU_PATH))
PRESETS.register("rethinking-fashion", "the same protocol, quick: Fashion-MNIST, 5 tasks, MLP, 8 epochs (CPU)")(
    RunConfig(dataset="fashion_mnist", tasks=5, backbone="mlp", epochs=8, lr_patience=2, **RETHINKING))
# The protocol's SGD 0.1 learns each new digits task on the mlp, and on the cnn once the cnn had batch
# norm (backbones.SmallCNN; without it some tasks were learned poorly), so the quick presets keep the
# protocol unchanged (seen in runs with labkit's seeded class order; no test re-checks it).
PRESETS.register("rethinking-digits", "the same protocol, quicker: digits, 5 tasks, MLP, 20 epochs (CPU, seconds)")(
    RunConfig(dataset="digits", tasks=5, backbone="mlp", epochs=20, lr_patience=3, **RETHINKING))
# LwM needs a conv backbone (Grad-CAM of the last conv block): the cnn, with its own optimiser
# (labkit.protocols.recipes: Adam 1e-3) instead of the protocol's SGD 0.1. Not for accuracy (LwM
# learns every task with SGD 0.1 too) but for the attention term: L_AD's gradient scales as 1 / ||Q||
# (the maps are L2-normalised) and these 4x4 maps are small, so plain SGD steps on it are erratic.
# In the runs that chose it (the attention drift L_AD(student after task t, its teacher) on the old
# tasks' test images), SGD left LwM's maps further from the teacher's than LwF's, which has no
# attention term, and Adam kept them nearer; no test re-checks it. Epochs: 10 (inferred); the
# validation schedule is the protocol's.
PRESETS.register("lwm-digits", "LwM's quick setting: the rethinking-digits protocol on the cnn with Adam 1e-3, 10 epochs (CPU, seconds)")(
    RunConfig(dataset="digits", tasks=5, backbone="cnn", epochs=10, lr_patience=3,
              **{**RETHINKING, "method": "lwm", "optimizer": "adam", "lr": 1e-3}))

# DLCFT (Shon et al. 2022): Seq-CIFAR-100, ResNet-18 with LeakyReLU and batch norm folded, pre-trained
# (the paper: ImageNet32, which cannot be had here; these pre-train on all of CIFAR-10, `auto:cifar10`),
# Adam 1e-4 for the linearised model (the non-linear baselines: --optimizer sgd --lr 1e-3
# --momentum 0.9 --loss ce), weight decay 1e-5, buffer 500. Epochs per task are not in the paper:
# 50 is inferred (Mammoth's Seq-CIFAR-100 setting, whose buffer and DER baselines the paper uses).
DLCFT = dict(method="dlcft", loss="mse", optimizer="adam", lr=1e-4, weight_decay=1e-5, batch_size=32)
DLCFT_GPU = dict(dataset="cifar100", backbone="resnet18-leaky", epochs=50, pretrained="auto:cifar10", **DLCFT, **GPU_PATH)
for name, scenario, tasks in (("dlcft-cifar100-data-il", "data-il", 10), ("dlcft-cifar100-data-il-100", "data-il", 100),
                              ("dlcft-cifar100-task-il", "task-il", 10), ("dlcft-cifar100-class-il", "class-il", 10)):
    PRESETS.register(name, f"DLCFT's Seq-CIFAR-100 {scenario} protocol, {tasks} tasks (GPU: ResNet-18, 50 epochs a task)")(
        RunConfig(scenario=scenario, tasks=tasks, **DLCFT_GPU))
# quick: an MLP with LeakyReLU pre-trained on a held-out 20% of the training images (`auto`).
for dataset, label, epochs in (("fashion_mnist", "fashion", 3), ("digits", "digits", 10)):
    for scenario in ("data-il", "task-il", "class-il"):
        PRESETS.register(f"dlcft-{label}-{scenario}", f"DLCFT quick, {dataset} {scenario}, 5 tasks, mlp-leaky pre-trained on "
                         f"held-out images, {epochs} epochs (CPU)")(
            RunConfig(dataset=dataset, scenario=scenario, tasks=5, backbone="mlp-leaky", epochs=epochs,
                      pretrained="auto", **{**DLCFT, "lr": 1e-3}))


# what a run may change and still follow its preset's protocol: which method (and its knobs) on
# which seed, and where the data and the device are
FREE_FIELDS = ("method", "method_params", "seed", "data_root", "device", "knn_k")


def preset_followed(config: dict) -> str | None:
    """The preset whose protocol a stored config follows (every field but FREE_FIELDS equal), or None."""
    for name in PRESETS.names():
        protocol = PRESETS.get(name)
        if all(config.get(f.name) == getattr(protocol, f.name) for f in dataclasses.fields(RunConfig)
               if f.name not in FREE_FIELDS):
            return name
    return None
