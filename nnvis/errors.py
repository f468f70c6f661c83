"""The one exception type for bad user input."""


class NNVisError(ValueError):
    """Bad input from a user: the message says what was given and what is allowed.

    The CLI prints it on one line and exits with status 2; the dashboard shows it.
    """


class NotInStore(NNVisError):
    """A read-only server was asked for something that was never computed: it says so instead."""


class NotCaptured(NNVisError):
    """A web request needed activations that were never captured (a run that did not finish):
    capturing is a forward pass of the whole subset, which only jobs and the CLI do."""
