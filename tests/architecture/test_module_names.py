"""Every module is reached by its dotted name however it is imported (issue #16): the registries
are UPPER_CASE constants (LOSSES, METHODS, ...), so no package attribute hides a module of the
same name."""
from __future__ import annotations

import importlib
import pkgutil
import sys
import types

import pytest

import labkit
import labkit.data.datasets as datasets_module
import labkit.data.scenarios as scenarios_module
import labkit.losses as L
import labkit.methods as M
import labkit.models.backbones as backbones_module
from labkit.registry import Registry

MODULES = sorted(info.name for info in pkgutil.walk_packages(labkit.__path__, "labkit."))


def test_losses_package_is_the_module_with_its_functions():
    assert isinstance(L, types.ModuleType) and L is sys.modules["labkit.losses"]
    assert callable(L.joint_kd) and callable(L.sparsemax)
    assert L.LOSSES.get("ce").fn is L.cross_entropy


def test_methods_package_is_the_module_and_the_registry_holds_its_classes():
    assert M.lwf is sys.modules["labkit.methods.lwf"]
    lwf = M.METHODS.get("lwf")  # the plain variant register_variants makes of the module's LwF
    assert issubclass(lwf, M.lwf.LwF) and lwf.__module__ == "labkit.methods.lwf" and lwf.name == "lwf"


def test_data_and_model_modules_are_modules():
    assert datasets_module.missing_files is labkit.data.datasets.missing_files
    assert scenarios_module.make_scenario is labkit.data.make_scenario
    assert labkit.models.backbones is backbones_module is sys.modules["labkit.models.backbones"]
    assert backbones_module.BACKBONES.get("mlp") is not None


def test_the_top_level_registries_are_the_modules_own():
    owners = {"LOSSES": L, "METHODS": M, "DATASETS": datasets_module, "SCENARIOS": scenarios_module,
              "BACKBONES": backbones_module, "PRESETS": importlib.import_module("labkit.protocols.presets"),
              "COMPARISONS": importlib.import_module("labkit.protocols.comparisons")}
    for name, module in owners.items():
        assert getattr(labkit, name) is getattr(module, name) and isinstance(getattr(labkit, name), Registry)
        assert name in labkit.__all__


def test_the_walk_finds_the_packages_and_their_modules():
    assert {"labkit.losses", "labkit.methods.lwf", "labkit.data.datasets", "labkit.models.backbones",
            "labkit.sweep.grid", "labkit.protocols.presets"} <= set(MODULES)


@pytest.mark.parametrize("full", MODULES)
def test_no_attribute_of_a_package_hides_its_module(full):
    module = importlib.import_module(full)
    parent, _, name = full.rpartition(".")
    assert getattr(sys.modules[parent], name) is module
