"""The project's own exception types, so callers can tell our failures from library ones."""


class IocError(Exception):
    """Base of every error this project raises on purpose."""


class SettingsError(IocError):
    """A setting from the environment is missing or invalid."""


class CityDataError(IocError):
    """A city data file is missing, malformed or inconsistent."""


class InvalidEvent(IocError):
    """An event cannot be accepted; the message is the reason stored in the dead-letter stream."""


class ScenarioError(IocError):
    """A simulator scenario file is missing or malformed."""
