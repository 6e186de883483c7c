"""The web dashboard served by `relaylane serve` at `/` (issue 9, in progress).

It reads the same state as the CLI and the API and has no logic of its own: `session`
holds the pure parts of its login (signed session cookie, CSRF tokens), `routes` its
pages.
"""
