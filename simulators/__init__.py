"""City simulators: scenarios as data files, an engine that turns them into v1 events, and a runner that sends them."""

from simulators.engine import SimEvent, generate
from simulators.errors import ScenarioError
from simulators.runner import DRY_RUN_START, dry_run, run_simulation, write_events
from simulators.scenario import Scenario, check_file, list_scenarios, load_scenario

__all__ = [
    "DRY_RUN_START",
    "Scenario",
    "ScenarioError",
    "SimEvent",
    "check_file",
    "dry_run",
    "generate",
    "list_scenarios",
    "load_scenario",
    "run_simulation",
    "write_events",
]
