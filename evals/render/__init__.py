"""Renderers: every format is made from report.json."""
