"""Settings: flags over environment over file over defaults; every error names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import Settings, SettingsError, load


def test_defaults() -> None:
    s = load({}, {})
    assert s == Settings()
    assert s.mqtt_parts == ("127.0.0.1", 1883, None, None, False)


def test_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text('http = "0.0.0.0:9000"\ninflight = 10\nwriters = 3\n')
    s = load({"inflight": "20", "config": str(cfg)}, {"TELEMATICS_WRITERS": "4"})
    assert (s.http, s.inflight, s.writers) == ("0.0.0.0:9000", 20, 4)


def test_shared_group_and_credentials() -> None:
    s = load({"mqtt_url": "mqtts://gw:pw@broker.example:8883", "shared_group": "ingest"}, {})
    assert s.mqtt_parts == ("broker.example", 8883, "gw", "pw", True)


@pytest.mark.parametrize(("flags", "env", "message"), [
    ({"mqtt_url": "http://x"}, {}, "TELEMATICS_MQTT_URL (--mqtt-url): 'http://x' is not"),
    ({}, {"TELEMATICS_DB_URL": "mysql://x"}, "TELEMATICS_DB_URL (--db-url)"),
    ({"http": "localhost"}, {}, "TELEMATICS_HTTP (--http): 'localhost' is not host:port"),
    ({}, {"TELEMATICS_INFLIGHT": "lots"}, "TELEMATICS_INFLIGHT: 'lots' is not an integer"),
    ({"inflight": "0"}, {}, "TELEMATICS_INFLIGHT (--inflight): 0 outside 1..65535"),
    ({"shared_group": "a/b"}, {}, "TELEMATICS_SHARED_GROUP (--shared-group)"),
    ({"log_level": "LOUD"}, {}, "TELEMATICS_LOG_LEVEL (--log-level)"),
])
def test_errors_name_the_key(flags: dict[str, str], env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as err:
        load(flags, env)
    assert message in str(err.value)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text("mqtt_uri = 'mqtt://x:1'\n")
    with pytest.raises(SettingsError, match="unknown key 'mqtt_uri'"):
        load({"config": str(cfg)}, {})


def test_every_setting_is_described_once_and_documented() -> None:
    from dataclasses import fields

    from gateway.settings import env_name, flag_name
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for f in fields(Settings):
        assert f.metadata["help"] and f.metadata["group"], f.name
        shown = env_name(f.name) if f.metadata["env_only"] else flag_name(f.name)
        assert shown in readme, f"README settings table lacks {shown}"
