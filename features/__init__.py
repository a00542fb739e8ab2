"""Derivations, features and events: trips, daily usage, profiles, activity segments, the
service loop (maintenance and condition rules, the service book, predictions, reminders and
their lifecycle, dealers, the worklist and the conversion report), the registry, the events
feed, and the DDL of their tables.

May import ``timeseries`` and ``decoders``; never ``gateway``.
"""
