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


DISK_FULL = ("The disk holding the workspace (or the job cache) is full: nothing was lost, but nothing new can be "
             "stored. Free some space on it, then try again.")
DISK_FULL_SIGNS = ("database or disk is full", "no space left on device", "disk quota exceeded")


def is_disk_full(error: BaseException | str) -> bool:
    """Whether `error` (or a job's error text) says the disk is full (SQLite's or the OS's words)."""
    if isinstance(error, OSError) and error.errno in (28, 122):  # ENOSPC, EDQUOT
        return True
    text = str(error).lower()
    return any(sign in text for sign in DISK_FULL_SIGNS)
