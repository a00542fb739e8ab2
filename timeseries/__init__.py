"""Storage: the time-series schema and the migration runner, the batch writer (binary COPY,
dedup, dead letters, the in-flight journal), the ``Store`` seam the pipeline writes
through, and readers of stored samples.

May import ``decoders`` (readings, catalog); never ``features`` or ``gateway``.
"""
