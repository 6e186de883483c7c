"""`relaylane serve`: the HTTP API, SMTP submission and delivery workers in one process."""
