"""Campaigns: sending one message to a segment of contacts.

`segments` holds the segment language, pure and independent of any schema.
"""
