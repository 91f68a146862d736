"""Mangalm's Python layer: what the database cannot do by itself.

Streams CSV files into PostgreSQL, issues JWTs, runs migrations and starts the processes.
"""
__version__ = "0.1.0"
