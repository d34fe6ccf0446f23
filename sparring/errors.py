"""Errors meant for the user: the CLI prints their message, never a traceback."""


class SparringError(Exception):
    """A problem with the user's input or environment, explained in the message."""


class ConfigError(SparringError):
    pass


class UnknownIdError(SparringError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class ForeignGameError(Exception):
    """A game from another library (TextArena) raised inside its own code while playing a reply: that
    episode fails as an episode (stored, counted, never trained on); the run goes on. The fuzz harness
    counts these apart from the faults of the project's own envs."""
