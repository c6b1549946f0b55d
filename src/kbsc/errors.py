"""User-facing errors: the CLI prints them as one line, never as a traceback."""


class KbscError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""


class ConfigError(KbscError):
    """A bad configuration value, unknown name or malformed config file."""


class DataError(KbscError):
    """A missing, malformed or mismatched data file, cache or checkpoint."""


class MissingDependency(KbscError, ImportError):
    """An optional package that this path needs is not installed (the message names the install line)."""
