"""Where the service may send a webhook: http or https only, and, unless private addresses are
allowed (tests, local development), only to hosts whose every address is public, never to
loopback, private, link-local, shared or cloud metadata addresses. Checked when a webhook is
created and again before every attempt (DNS can change); the attempt then connects to the
address that was checked, so a second lookup cannot swap in another one."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = ("http", "https")
RESOLVE_TIMEOUT_SECONDS = 5.0
# Cloud instance metadata services (AWS, GCP, Azure, Oracle, Alibaba): all are outside the
# public ranges anyway, named so the refusal can say what they are.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "192.0.0.192", "100.100.100.200")
)


class UnsafeURL(ValueError):
    """A webhook URL the service will not call; the message says why, for a person."""


@dataclass(frozen=True)
class Target:
    """What an attempt connects to: `url` (its host the checked address, when one was
    checked), with `headers` and `extensions` that keep the original host for HTTP and TLS."""

    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


def parse(url: str) -> httpx.URL:
    """The URL if it is an absolute http(s) URL with a host; UnsafeURL otherwise."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeURL(f"Not a valid URL: {exc}") from None
    if parsed.scheme not in SCHEMES:
        raise UnsafeURL("Only http and https URLs can receive webhooks.")
    if not parsed.host:
        raise UnsafeURL("The URL has no host.")
    return parsed


def refusal(address: Address) -> str | None:
    """Why the service will not call `address`, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_private or address.is_multicast or not address.is_global:
        return f"{address} is a private, multicast or reserved address"
    return None


async def _addresses(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError, UnicodeError):
        raise UnsafeURL(f"The host {host} does not resolve.") from None
    # Scoped IPv6 addresses come back as "fe80::1%eth0": link-local whatever the scope.
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def pinned(url: httpx.URL, address: Address) -> Target:
    """`url` sent to `address`: the Host header and TLS (SNI and certificate check) still
    name the URL's own host."""
    host = url.host
    target = url.copy_with(host=str(address))
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    return Target(target, {"Host": url.netloc.decode("ascii")}, extensions)


async def check(url: str, *, allow_private: bool) -> Target:
    """Where to send to `url`, or UnsafeURL saying why not."""
    parsed = parse(url)
    if allow_private:
        return Target(parsed)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = await _addresses(parsed.host, port)
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            raise UnsafeURL(f"Webhooks cannot call {parsed.host}: {reason}.")
    if not addresses:
        raise UnsafeURL(f"The host {parsed.host} does not resolve.")
    return pinned(parsed, addresses[0])
