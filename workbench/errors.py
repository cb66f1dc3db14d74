"""The one exception type users see: a message that says what is wrong and what to do."""


class WorkbenchError(Exception):
    """A user-facing error; the CLI prints it and exits with status 2."""
