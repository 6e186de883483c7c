"""Contacts: the people a list (and a campaign) sends to.

`csv_rows` reads a contacts CSV as a stream of validated rows; storing them is the
caller's business.
"""
