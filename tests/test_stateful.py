"""Random sequences of user calls, checked after every step against the tutorial's loop (tests/stateful_machine.py).

``make test`` runs a fixed seed with a budget in examples and steps (not wall
time); ``make fuzz MINUTES=30 SEED=n`` runs it longer (tools/fuzz.py).
"""

import os

import pytest
from hypothesis import HealthCheck, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from stateful_machine import DeliveryMachine

pytestmark = [pytest.mark.casa, pytest.mark.stateful]

EXAMPLES = int(os.environ.get("CASA_PLUGIN_STATEFUL_EXAMPLES", "12"))
STEPS = int(os.environ.get("CASA_PLUGIN_STATEFUL_STEPS", "15"))
SEED = int(os.environ.get("CASA_PLUGIN_STATEFUL_SEED", "23"))


def test_user_call_sequences_match_the_tutorials_loop():
    run_state_machine_as_test(seed(SEED)(DeliveryMachine), settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None, print_blob=False,
        suppress_health_check=list(HealthCheck)))
