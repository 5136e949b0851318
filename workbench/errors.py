"""The one family of user-facing errors.

Anything a person can fix (a bad file, an unknown voice, an unreachable org) is raised as a
`WorkbenchError` whose message says what and where, in one line. The CLI prints it without a
traceback and exits non-zero; the GUI shows it in the status bar. Programming errors stay
ordinary exceptions.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """A problem the user can act on; `str(error)` is the whole message."""


class InputFileError(WorkbenchError):
    """A file given by the user is missing, unreadable or malformed."""


class ConfigError(WorkbenchError):
    """A setting, option or name (voice, profile, backend) is unknown or invalid."""
