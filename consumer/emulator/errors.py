"""The one error the emulator raises to its callers."""


class EmulatorError(Exception):
    """A seed, a control or a call the emulator cannot accept; the message says why.

    The command line turns it into exit code 2 (bad usage or configuration).
    """
