"""relaylane: a self-hosted multi-SMTP sending platform."""

__version__ = "0.1.0"
