"""The send-time SSRF policy: every refused address form is refused, before any connection is made.

The sends here go through ``send_once`` with a resolver that records what it was asked: a refused URL comes back
as ``address_refused`` (a connection failure would say ``connection_failed``), and nothing reaches a receiver.
No test connects anywhere but 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import uuid

import pytest

from solomo.config import Settings
from solomo.webhooks.addresses import refusal
from solomo.webhooks.sender import EndpointForSending, send_once
from tests.webhooks.receiver import running_receiver

REFUSED_ADDRESSES = [
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata (AWS, GCP, Azure, Huawei)
    "169.254.0.23",  # Tencent Cloud's metadata
    "100.64.0.1",  # CGNAT
    "100.100.100.200",  # Alibaba Cloud's metadata, inside CGNAT
    "168.63.129.16",  # Azure's host address
    "192.0.0.192",  # Oracle Cloud's metadata
    "0.0.0.0",  # noqa: S104 (an address refused, not bound)
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",  # AWS's IPv6 metadata
    "fec0::1",  # site-local
    "ff02::1",
    "::ffff:10.0.0.1",
    "::ffff:a9fe:a9fe",  # 169.254.169.254, mapped
    "::ffff:c0a8:101",  # 192.168.1.1, mapped
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::1",  # NAT64 local use
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001::1",  # Teredo
    "2001:db8::1",
    "::a00:1",  # IPv4-compatible 10.0.0.1
]
LOOPBACK = ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", [*REFUSED_ADDRESSES, *LOOPBACK])
def test_each_refused_address_is_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", [*REFUSED_ADDRESSES, "64:ff9b::7f00:1"])
def test_allowing_loopback_allows_nothing_else(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_loopback=True) is not None


@pytest.mark.parametrize("address", LOOPBACK)
def test_loopback_is_allowed_only_by_the_test_setting(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_loopback=True) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


class Resolutions:
    """A resolver for the tests: names map to the answers given; every question is noted."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"unknown host {host}")
        return self.answers[host]


def strict(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, webhook_allow_http=False, webhook_allow_loopback=False, webhook_allowed_ports=(443, 8443)
    )


async def refused(url: str, settings: Settings, resolver: Resolutions | None = None) -> None:
    endpoint = EndpointForSending(uuid.uuid4(), url, "whsec_c2VjcmV0c2VjcmV0c2VjcmV0")
    result = await send_once(endpoint, uuid.uuid4(), b"{}", settings, resolver=resolver or Resolutions({}))
    assert (result.delivered, result.error, result.status_code) == (False, "address_refused", None), url


URL_FORMS = [
    "https://127.0.0.1/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://[::1]/hook",
    "https://[fe80::1]/hook",
    "https://[fe80::1%25eth0]/hook",
    "https://[fc00::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://[::ffff:a9fe:a9fe]/hook",
    "https://2130706433/hook",  # 127.0.0.1 as one decimal number
    "https://0x7f.0.0.1/hook",  # hex
    "https://017700000001/hook",  # octal
    "https://0177.0.0.1/hook",
    "https://127.1/hook",
    "https://0x7f000001/hook",
    "https://localhost/hook",
    "http://example.com/hook",  # http without the setting
    "https://user:pass@example.com/hook",  # userinfo
    "https://example.com@10.0.0.1/hook",
    "https://example.com:22/hook",  # a port not allowed
    "ftp://example.com/hook",
    "https:///hook",
]


@pytest.mark.parametrize("url", URL_FORMS)
async def test_each_refused_url_form_is_refused_without_a_lookup(url: str, settings: Settings) -> None:
    resolver = Resolutions({"example.com": ["93.184.215.14"]})
    await refused(url, strict(settings), resolver)
    assert resolver.asked == []


@pytest.mark.parametrize(
    "answers",
    [["10.0.0.7"], ["169.254.169.254"], ["127.0.0.1"], ["::1"], ["::ffff:127.0.0.1"], ["fd00:ec2::254"]],
    ids=str,
)
async def test_a_name_that_resolves_to_a_refused_address_is_refused(answers: list[str], settings: Settings) -> None:
    resolver = Resolutions({"hooks.example.com": answers})
    await refused("https://hooks.example.com/hook", strict(settings), resolver)
    assert resolver.asked == ["hooks.example.com"]


async def test_one_refused_address_among_public_ones_refuses_the_name(settings: Settings) -> None:
    resolver = Resolutions({"hooks.example.com": ["93.184.215.14", "10.0.0.7"]})
    await refused("https://hooks.example.com/hook", strict(settings), resolver)


async def test_a_loopback_receiver_is_refused_without_the_test_setting(settings: Settings) -> None:
    async with running_receiver() as receiver:
        allowed = receiver.settings(settings)
        await refused(receiver.url(), dataclasses.replace(allowed, webhook_allow_loopback=False))
        await refused(receiver.url(), dataclasses.replace(allowed, webhook_allow_http=False))
        await refused(receiver.url(), dataclasses.replace(allowed, webhook_allowed_ports=(443,)))
    assert receiver.received == []


async def test_an_unresolvable_name_is_a_connection_failure_not_a_refusal(settings: Settings) -> None:
    endpoint = EndpointForSending(uuid.uuid4(), "https://nowhere.example/hook", "whsec_c2VjcmV0c2VjcmV0c2VjcmV0")
    result = await send_once(endpoint, uuid.uuid4(), b"{}", strict(settings), resolver=Resolutions({}))
    assert (result.delivered, result.error) == (False, "connection_failed")
