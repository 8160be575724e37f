"""The simulator's own exception type, beside the scenarios it reports on (the core knows no simulator)."""

from ioc.errors import IocError


class ScenarioError(IocError):
    """A simulator scenario file is missing or malformed (the `ioc` command exits 2, like a bad setting)."""
