"""The project's own exception types, so callers can tell our failures from library ones."""


class IocError(Exception):
    """Base of every error this project raises on purpose."""


class SettingsError(IocError):
    """A setting from the environment is missing or invalid."""


class CityDataError(IocError):
    """A city data file is missing, malformed or inconsistent."""


class InvalidEvent(IocError):
    """An event cannot be accepted; the message is the reason stored in the dead-letter stream."""


class InvalidInput(IocError):
    """A value a person gave (a user name, password, role or token name) is not acceptable; the CLI exits 2."""


class LastAdmin(InvalidInput):
    """Disabling or demoting the last enabled admin is refused: nobody could manage accounts on the web then."""


class DatabaseError(IocError):
    """The SQL database cannot be reached, is not migrated, or failed an operation."""


class NotFound(IocError):
    """A record asked for by name or id does not exist."""


class AlreadyExists(IocError):
    """A record with that unique name exists already."""


class StaleVersion(IocError):
    """A record changed since the caller read it (optimistic concurrency); read it again and retry."""
