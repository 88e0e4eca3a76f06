"""The names each registry declares (checked at config load without torch) are the names its modules
register, and an estimator that needs a critic's values says so."""

import subprocess
import sys

import pytest

from rlvr.algorithms import ADVANTAGES, KL_ESTIMATORS, LOSS_AGGREGATIONS, POLICY_LOSSES
from rlvr.algorithms.registries import VALUE_ESTIMATORS, needs_values
from rlvr.registry import Registry

REGISTRIES = [ADVANTAGES, POLICY_LOSSES, KL_ESTIMATORS, LOSS_AGGREGATIONS]


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.kind)
def test_declared_names_are_the_registered_builtins(registry):
    registered = {n for n in registry.names() if registry.get(n).__module__.startswith("rlvr.")}
    assert registered == set(registry.builtins)


def test_value_estimators_are_the_ones_that_declare_it():
    declared = {n for n in ADVANTAGES.names() if getattr(ADVANTAGES.get(n), "needs_values", False)}
    assert declared == VALUE_ESTIMATORS == {"gae"}
    assert needs_values("gae") and not needs_values("grpo") and not needs_values("pkg.mod:unregistered")


def test_a_registered_estimator_can_declare_it():
    def critic_based(*args):
        return args

    critic_based.needs_values = True  # type: ignore[attr-defined]
    ADVANTAGES.register("critic_based_test")(critic_based)
    try:
        assert needs_values("critic_based_test")
    finally:
        ADVANTAGES._items.pop("critic_based_test")


def test_an_empty_registry_knows_nothing_and_suggests_nothing():
    reg: Registry = Registry("thing")
    assert reg.known() == []
    with pytest.raises(ValueError, match="unknown thing 'x'; known:  \\(or a 'module:attr' import path\\)$"):
        reg.check("x")


def test_checking_a_name_imports_nothing():
    probe = (
        "import sys\n"
        "from rlvr.algorithms import ADVANTAGES\n"
        "ADVANTAGES.check('grpo'); print(ADVANTAGES.known()[:2], 'torch' in sys.modules)\n"
        "ADVANTAGES.get('grpo'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["['dr_grpo', 'gae'] False", "True"]
