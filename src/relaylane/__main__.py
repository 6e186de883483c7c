"""`python -m relaylane` runs the command line."""

from relaylane.cli.app import main

main()
