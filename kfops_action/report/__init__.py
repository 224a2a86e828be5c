"""Rendering results for people: the terminal now, PR comments through the same data later."""
