"""Tests against a scripted hostile server (server.py holds it; see its docstring)."""
