"""Offline evaluation of the matcher against the labelled set in tests/data/matching/."""
