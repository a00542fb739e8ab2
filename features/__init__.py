"""Derivations, features and events: trips, daily usage, profiles, activity segments, the
service engine and service book, the registry, the events feed, and the DDL of their tables.

May import ``timeseries`` and ``decoders``; never ``gateway``.
"""
