"""Errors meant for the user: the CLI prints their message, never a traceback."""


class SparringError(Exception):
    """A problem with the user's input or environment, explained in the message."""


class ConfigError(SparringError):
    pass


class UnknownIdError(SparringError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]
