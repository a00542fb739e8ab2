"""Prometheus metrics of the gateway. Reason labels are the fixed decoder reject codes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from decoders.errors import REJECT_CODES


class Metrics:
    """All gateway metrics, in their own registry (tests can run several gateways)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.received = Counter("telematics_messages_received", "MQTT messages received",
                                registry=r)
        self.committed = Counter("telematics_messages_committed",
                                 "Messages whose rows were committed", registry=r)
        self.duplicates = Counter("telematics_messages_duplicate",
                                  "Messages already stored (redelivery/resend)", registry=r)
        self.samples = Counter("telematics_samples_committed",
                               "Signal values in committed messages", registry=r)
        self.events = Counter("telematics_events_committed", "Cockpit events stored", registry=r)
        self.unknown_events = Counter("telematics_unknown_event_types",
                                      "Cockpit events of types not in the catalog", registry=r)
        self.unknown_can_frames = Counter("telematics_unknown_can_frames",
                                          "CAN frames whose id the vehicle's DBC does not"
                                          " describe (counted, not rejected)", registry=r)
        self.signal_unavailable = Counter(
            "telematics_signal_unavailable", "CAN raw values the DBC names as not available"
            " (SNA, Init, Error): counted, not stored, not rejected", registry=r)
        self.rejected = Counter("telematics_messages_rejected",
                                "Rejections (whole or partial) by reason", ["reason"], registry=r)
        for code in REJECT_CODES:
            self.rejected.labels(code)
        self.dead_letters = Counter("telematics_dead_letters",
                                    "Messages kept whole as dead letters (refused by a decoder"
                                    " or by storage)", registry=r)
        self.batch_size = Histogram("telematics_batch_messages", "Messages per committed batch",
                                    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
                                    registry=r)
        self.commit_seconds = Histogram("telematics_commit_seconds", "Batch write+commit time",
                                        registry=r)
        self.lag_seconds = Histogram(
            "telematics_end_to_end_lag_seconds", "Newest vehicle timestamp to commit",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600, 3600, 86400), registry=r)
        self.inflight = Gauge("telematics_inflight_messages", "Received, not yet acknowledged",
                              registry=r)
        self.broker_connected = Gauge("telematics_broker_connected",
                                      "1 while the MQTT connection is up", registry=r)
        self.session_lost = Counter(
            "telematics_mqtt_session_lost", "Reconnects that found the broker had dropped the"
            " gateway's session (what it queued meanwhile is lost)", registry=r)
        self.retained_skipped = Counter(
            "telematics_mqtt_retained_skipped", "Retained copies replayed by the broker at"
            " subscribe time, acknowledged and not ingested again", registry=r)
        self.reconnects = Counter("telematics_broker_reconnects", "Broker (re)connections",
                                  registry=r)
        self.derive_pending = Gauge("telematics_derivation_pending_vehicles",
                                    "Vehicles with new data not yet derived", registry=r)
        self.derived = Counter("telematics_vehicles_derived", "Vehicle derivation passes",
                               registry=r)
        self.profiles_refreshed = Counter("telematics_profiles_refreshed",
                                          "Vehicles whose served profiles were recomputed",
                                          registry=r)
        self.feed_events = Counter("telematics_feed_events", "Events added to the feed",
                                   registry=r)
        self.derivation_errors = Counter("telematics_derivation_errors",
                                         "Vehicle derivations that raised (the vehicle is"
                                         " retried with backoff, the others go on)",
                                         registry=r)
        self.derive_seconds = Histogram("telematics_derivation_seconds",
                                        "Time of one derivation pass over pending vehicles",
                                        registry=r)
        self.webhook_deliveries = Counter("telematics_webhook_deliveries",
                                          "Webhook delivery attempts by outcome", ["outcome"],
                                          registry=r)
        for outcome in ("ok", "failed"):
            self.webhook_deliveries.labels(outcome)
        self.db_errors = Counter("telematics_db_errors", "Database errors by kind", ["kind"],
                                 registry=r)
        for kind in ("transient", "permanent"):
            self.db_errors.labels(kind)
