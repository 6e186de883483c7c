"""relaylane: a self-hosted multi-SMTP sending platform."""

import logging

__version__ = "0.1.0"

# A library stays quiet unless the application (the CLI) configures logging.
logging.getLogger("relaylane").addHandler(logging.NullHandler())
