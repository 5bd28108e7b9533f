"""Job functions for the raw queue benchmark; workers import them by name."""


def noop() -> None:
    """Does nothing: what is left is the queue's own cost."""
