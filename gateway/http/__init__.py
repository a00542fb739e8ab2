"""HTTP out: the aiohttp application, the platform API, auth, OpenAPI, the status page and
webhook delivery.

May import ``features`` and ``timeseries`` (read side), ``decoders`` (vocabularies) and
``gateway.ops.dead_letters`` (retry from the API); never the MQTT clients.
"""
