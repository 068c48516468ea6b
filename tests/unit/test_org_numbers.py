import pytest

from contracts.org_numbers import normalise_org_number


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [("556036-0793", "SE", "5560360793"), ("556036 0793", "SE", "5560360793"), ("923609016", "NO", "923609016")],
)
def test_valid_numbers_are_normalised(raw, country, expected):
    assert normalise_org_number(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country", "message"),
    [
        ("556036-0794", "SE", "Luhn"),
        ("55603607", "SE", "10 digits"),
        ("923609017", "NO", "mod-11"),
        ("5560A60793", "SE", "only digits"),
    ],
)
def test_invalid_numbers_say_what_is_wrong(raw, country, message):
    with pytest.raises(ValueError, match=message):
        normalise_org_number(raw, country)
