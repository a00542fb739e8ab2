"""Derived features and events: registry, usage profiles, segments, service-due engine."""
