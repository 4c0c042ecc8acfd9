"""Where webhooks may go (platform/outbound.py) and the rules of a delivery (core/webhooks.py)
that need no database: the address check, the pinned target, the backoff's bounds."""

from __future__ import annotations

import ipaddress
import random

import httpx
import pytest

from loomworks.core.webhooks import retry_delay, signature
from loomworks.platform.outbound import UnsafeURL, check, pinned, refusal


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("100.64.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 (an address refused, not bound)
        ("224.0.0.1", False),
    ],
)
def test_only_public_addresses_are_called(address: str, public: bool) -> None:
    assert (refusal(ipaddress.ip_address(address)) is None) is public


def test_an_attempt_connects_to_the_checked_address_under_the_urls_name() -> None:
    target = pinned(
        httpx.URL("https://hooks.example.com:8443/x?y=1"), ipaddress.ip_address("93.184.216.34")
    )
    assert str(target.url) == "https://93.184.216.34:8443/x?y=1"
    assert target.headers == {"Host": "hooks.example.com:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example.com"}
    plain = pinned(httpx.URL("http://hooks.example.com/x"), ipaddress.ip_address("2606:2800::1"))
    assert str(plain.url) == "http://[2606:2800::1]/x"
    assert plain.extensions == {}


async def test_private_hosts_pass_only_when_allowed() -> None:
    with pytest.raises(UnsafeURL, match="loopback"):
        await check("http://127.0.0.1:9/hook", allow_private=False)
    allowed = await check("http://127.0.0.1:9/hook", allow_private=True)
    assert str(allowed.url) == "http://127.0.0.1:9/hook"
    with pytest.raises(UnsafeURL, match="http and https"):
        await check("gopher://127.0.0.1/", allow_private=True)


def test_backoff_doubles_with_jitter_within_bounds() -> None:
    rng = random.Random(7)
    for attempt in range(1, 9):
        ceiling = 30 * 2 ** (attempt - 1)
        delays = [retry_delay(30, attempt, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered, not one fixed wait


def test_signature_is_hmac_sha256_of_the_body() -> None:
    # RFC 4231 test case 2.
    assert signature("Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
