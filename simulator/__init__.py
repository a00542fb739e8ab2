"""A deterministic fleet simulator that publishes the v1 contract over MQTT, with ground truth."""
