"""Where a webhook may go: to public addresses only, never into redthread's own network.

A partner writes the URL, so a URL is judged by the addresses its host resolves to at the
moment of the call — not by how it is written (`http://2130706433/`, `http://0x7f.1/` and
`http://[::ffff:127.0.0.1]/` are all this machine) and not by what it resolved to when the
subscription was made (a name may point inward by now). The call then goes to the address
that was checked, so that a second lookup cannot answer differently.

Refused are the ranges of IANA's special-purpose address registries that are not globally
reachable, written out here rather than taken from `ipaddress.is_global`, whose answer has
changed between Python releases; IPv6 forms that carry an IPv4 address (mapped, NAT64,
6to4) are judged by that address.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import httpx

NOT_PUBLIC_V4 = tuple(ip_network(n) for n in (
    "0.0.0.0/8",  # "this network"
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # private
    "100.64.0.0/10",  # shared address space (carrier-grade NAT)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local, the cloud metadata service among them
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",  # documentation
    "192.88.99.0/24",  # the former 6to4 relay anycast
    "198.18.0.0/15",  # benchmarking
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and the limited broadcast address
))
NOT_PUBLIC_V6 = tuple(ip_network(n) for n in (
    "::/96",  # unspecified, loopback and the deprecated IPv4-compatible addresses
    "64:ff9b:1::/48",  # NAT64 for local use
    "100::/64",  # discard-only
    "2001::/23",  # IETF protocol assignments, Teredo among them
    "2001:db8::/32", "3fff::/20",  # documentation
    "5f00::/16",  # segment routing
    "fc00::/7",  # unique local
    "fe80::/10", "fec0::/10",  # link-local, and the former site-local
    "ff00::/8",  # multicast
))
NAT64 = IPv6Network("64:ff9b::/96")


def refused_address(address: IPv4Address | IPv6Address) -> str | None:
    """Why redthread must not call this address, or None when it is a public one."""
    if isinstance(address, IPv6Address):
        carried = address.ipv4_mapped or address.sixtofour or (
            IPv4Address(int(address) & 0xFFFF_FFFF) if address in NAT64 else None
        )
        if carried is not None:
            why = refused_address(carried)
            return f"{address} carries {carried}, {why}" if why else None
    networks: tuple[IPv4Network, ...] | tuple[IPv6Network, ...] = (
        NOT_PUBLIC_V4 if isinstance(address, IPv4Address) else NOT_PUBLIC_V6
    )
    for network in networks:
        if address in network:
            return f"{address} is in {network}, which is not a public range"
    return None


@dataclass(frozen=True)
class Destination:
    """A webhook URL with the address it is called at."""

    url: httpx.URL  # as the partner wrote it
    address: str  # the checked address

    @property
    def pinned_url(self) -> httpx.URL:
        """The URL with its host replaced by the checked address."""
        return self.url.copy_with(host=self.address)

    @property
    def host_header(self) -> str:
        """What the receiver sees as Host: the name the partner wrote (httpx leaves the
        default port out of `port`)."""
        host = self.url.raw_host.decode("ascii")
        host = f"[{host}]" if ":" in host else host
        return host if self.url.port is None else f"{host}:{self.url.port}"


class Refused(Exception):
    """A webhook URL redthread will not call; the message says why, and is the partner's to read."""


async def resolve_destination(url: str, allow_internal: bool = False) -> Destination:
    """The address to call `url` at: the first its host resolves to, once every address it
    resolves to has been checked (a name that points both out and in is refused). Raises
    Refused for a URL that cannot be called or points inward; OSError when the name does
    not resolve now (a failure that may pass)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise Refused(f"{url!r} is not a URL: {error}") from error
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise Refused(f"{url!r} is not an http(s) URL with a host")
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded, as the resolver wants it
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    found = await asyncio.get_running_loop().getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(ip_address(info[4][0].split("%")[0]) for info in found))
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    if not allow_internal:
        for address in addresses:
            if why := refused_address(address):
                shown = "" if str(address) == host.strip("[]") else f"{host} resolves to {address}; "
                raise Refused(f"{shown}{why}: webhooks go to addresses outside redthread's network")
    return Destination(parsed, str(addresses[0]))
