"""Campaigns: sending one message to a segment of contacts.

`segments` holds the segment language and `render` the sandboxed template rendering;
both are pure and independent of any schema.
"""
