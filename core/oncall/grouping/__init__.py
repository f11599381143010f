"""Grouping rules: which alerts share an incident."""
