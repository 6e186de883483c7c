"""`relaylane doctor`: is each sending domain and relay ready to send?

Every check is a pure function over DNS answers (`doctor.dns.Answers`) or over facts that
the I/O code gathered (relay handshakes, DKIM keys, the store's complaint counts). The
I/O lives in `doctor.gather`, `doctor.relay_check` and `doctor.rates`; `doctor.run` ties
them together into a list of `Check` lines.
"""

from relaylane.doctor.report import Check, Status, exit_code

__all__ = ["Check", "Status", "exit_code"]
