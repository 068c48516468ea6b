"""Webhook destinations are judged by the addresses they resolve to, in every form a
hostile partner would write them."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from services.notification.outbound import Refused, refused_address, resolve_destination

INWARD = [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "192.0.0.8", "198.18.0.1", "192.0.2.1", "224.0.0.1", "240.0.0.1", "255.255.255.255",
    "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1", "::ffff:127.0.0.1",
    "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "2002:c0a8:101::1", "::127.0.0.1", "64:ff9b:1::1",
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
          "2002:0808:0808::1"]


@pytest.mark.parametrize("address", INWARD)
def test_every_special_purpose_address_is_refused(address):
    assert refused_address(ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert refused_address(ip_address(address)) is None


@pytest.mark.parametrize("url", [
    "http://2130706433/hook",  # 127.0.0.1 as one number
    "http://0x7f000001/hook",
    "http://0x7f.1/hook",
    "http://017700000001/hook",  # octal
    "http://127.1/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://[0:0:0:0:0:ffff:127.0.0.1]:8080/hook",
    "http://localhost:8004/v1/board/funnel",
    "http://169.254.169.254/latest/meta-data/",
    "https://10.1.2.3/hook",
])
async def test_addresses_written_in_other_forms_are_refused_by_what_they_resolve_to(url):
    with pytest.raises(Refused):
        await resolve_destination(url)


async def test_an_internal_address_passes_when_allowed_and_the_call_goes_to_the_checked_address():
    destination = await resolve_destination("http://2130706433:8080/hook?x=1", allow_internal=True)
    assert destination.address == "127.0.0.1"
    assert str(destination.pinned_url) == "http://127.0.0.1:8080/hook?x=1"
    assert destination.host_header == "2130706433:8080"


async def test_a_public_literal_is_called_as_written():
    destination = await resolve_destination("https://[2606:4700:4700::1111]/hook")
    assert str(destination.pinned_url) == "https://[2606:4700:4700::1111]/hook"
    assert destination.host_header == "[2606:4700:4700::1111]"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///nohost", "not a url"])
async def test_what_is_not_an_http_url_is_refused(url):
    with pytest.raises(Refused):
        await resolve_destination(url)
