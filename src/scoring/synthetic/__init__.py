"""Synthetic French collections world: contract tables from hidden, time-varying behaviour.

Public API::

    world = generate(n_debtors=1000, seed=1)          # SyntheticWorld
    world.tables["debtors"|"invoices"|"actions"]       # CONTRACT §1 tables (pandas)
    world.write("data/synthetic/x")                    # Parquet + world.json, atomic
    world = load_world("data/synthetic/x")             # rebuilds the hidden state
    world.true_risk(ids, as_of)                        # true p_default / p_dispute
    world.true_action_values(ids, as_of)               # true 14-day reward per action x slot
    world.true_values_of(choices, as_of)               # true value of any strategy's choices
    world.ladder_action(ids, as_of)                    # logging policy's greedy choice
    generate(3000, seed=1, scenario="b2b_phone")       # another behavioural law (SCENARIOS)
    world = generate(3000, seed=1, extra_days=98)      # closed loop (scoring.synthetic.loop):
    world.run_external(28, decide)                     #   an outside policy decides 28 days
    world.tables_until(world.now)                      #   what the software knows by then

The hidden state (financial stress, billing errors, reachability and preferred contact times,
pressure sensitivity) never appears in the tables; models see it only through noisy
observables. See :mod:`scoring.synthetic.sim` for the dynamics.
"""

from .params import ACTIONS, DEFAULT_COSTS, OUTCOMES, WorldParams
from .scenarios import SCENARIOS, Scenario, UnknownScenarioError, get_scenario, scenario_params
from .world import (
    DEFAULT_END,
    DEFAULT_START,
    SyntheticWorld,
    generate,
    load_world,
    write_sample,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_COSTS",
    "DEFAULT_END",
    "DEFAULT_START",
    "OUTCOMES",
    "SCENARIOS",
    "Scenario",
    "SyntheticWorld",
    "UnknownScenarioError",
    "WorldParams",
    "generate",
    "get_scenario",
    "load_world",
    "scenario_params",
    "write_sample",
]
