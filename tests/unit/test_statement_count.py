"""Counting the SQL statements a page sends, so that none sends one per row."""
