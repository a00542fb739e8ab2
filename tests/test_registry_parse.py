"""Registry entries: the owner's home position is optional, both coordinates or neither,
numbers (JSON) or numeric strings (CSV), in range; every error names the field."""

from __future__ import annotations

import pytest

from features.registry import RegistryError, parse, parse_bulk

VIN = "WVWZZZ1JZXW999999"


def test_home_from_json_numbers_and_csv_strings() -> None:
    assert (parse(VIN, {"home_lat": 52.5163, "home_lon": 13.3777}).home_lat) == 52.5163
    got = parse_bulk(f"vin,model,home_lat,home_lon\n{VIN},Volta EV,-33.9,151.2\n", "text/csv")
    assert (got[0].home_lat, got[0].home_lon, got[0].model) == (-33.9, 151.2, "Volta EV")
    assert parse(VIN, {"home_lat": "", "home_lon": ""}).home_lat is None


@pytest.mark.parametrize(("body", "message"), [
    ({"home_lat": 52.5}, "fields 'home_lat' and 'home_lon' go together"),
    ({"home_lat": 91, "home_lon": 0}, "field 'home_lat' must be a number within -90..90"),
    ({"home_lat": 0, "home_lon": -181}, "field 'home_lon' must be a number within -180..180"),
    ({"home_lat": "north", "home_lon": 0}, "field 'home_lat' must be a number"),
    ({"home_lat": True, "home_lon": 0}, "field 'home_lat' must be a number within -90..90"),
    ({"home_lat": "nan", "home_lon": 0}, "field 'home_lat' must be a number within -90..90"),
])
def test_bad_home_names_the_field(body: dict[str, object], message: str) -> None:
    with pytest.raises(RegistryError) as err:
        parse(VIN, body)
    assert str(err.value) == message
