"""SMTP submission: applications hand mail to relaylane over authenticated SMTP.

`SubmissionServer` (server.py) listens; `SubmissionHandler` (handler.py) carries out
the SMTP transaction; `accept.prepare` turns one into a queued message; `auth.py`
checks credentials; `headers.py` does the byte-level checks; `tls.py` the contexts.
"""

from relaylane.errors import ListenError
from relaylane.submission.server import SubmissionServer

__all__ = ["ListenError", "SubmissionServer"]
