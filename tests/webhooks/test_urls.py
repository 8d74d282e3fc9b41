"""The static URL rules of a webhook endpoint (solomo/webhooks/urls.py): no database, no network."""

from __future__ import annotations

import pytest

from solomo.webhooks.urls import UrlRules, url_problem

STRICT = UrlRules()
DEVELOPMENT = UrlRules(allowed_ports=(443, 8443, 8080), allow_http=True, allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hooks/solomo",
        "https://example.com:8443/hooks?tenant=7",
        "https://EXAMPLE.com./x",
        "https://bücher.example/hook",
        "https://8.8.8.8/hook",
        "https://[2001:4860:4860::8888]/hook",
        "https://_acme.example.com/hook",
    ],
)
def test_good_urls_pass(url: str) -> None:
    assert url_problem(url, STRICT) is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://example.com/hook", "must use https"),
        ("ftp://example.com/hook", "https URL"),
        ("example.com/hook", "https URL"),
        ("https://user:pass@example.com/hook", "userinfo"),
        ("https://token@example.com/hook", "userinfo"),
        ("https://example.com:22/hook", "port 22 is not allowed"),
        ("https://example.com:80/hook", "port 80 is not allowed"),
        ("https://example.com:99999/hook", "port that is not a number"),
        ("https:///hook", "must name a host"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/\x00", "control characters"),
        ("https://example.com/hook#part", "fragment"),
        ("https://[::1/hook", "not a URL"),
        ("https://a..b/hook", "not a valid DNS name"),
        ("https://-bad.example/hook", "not a valid DNS name"),
        ("https://" + "a" * 64 + ".example/hook", "not a valid DNS name"),
        ("https://example.com/" + "x" * 2048, "at most 2048"),
    ],
)
def test_each_rule_says_what_is_wrong(url: str, says: str) -> None:
    problem = url_problem(url, STRICT)
    assert problem is not None
    assert says in problem, problem


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 (an address refused, not one bound)
        "224.0.0.1",
        "255.255.255.255",
        "[::1]",
        "[::]",
        "[fe80::1]",
        "[fc00::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:10.0.0.1]",
        "[::ffff:a9fe:a9fe]",
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "[2002:a00:1::1]",  # 6to4 of 10.0.0.1
    ],
)
def test_a_literal_address_that_is_not_public_is_refused(host: str) -> None:
    problem = url_problem(f"https://{host}/hook", STRICT)
    assert problem is not None
    assert "not a public internet address" in problem, problem


@pytest.mark.parametrize("host", ["2130706433", "0x7f.0.0.1", "017700000001", "127.1", "0x08080808", "1.2.3.4.5"])
def test_ipv4_only_as_four_decimals(host: str) -> None:
    """Other IPv4 spellings mean different things to different parsers: refused, whatever they point at."""
    problem = url_problem(f"https://{host}/hook", STRICT)
    assert problem is not None
    assert "four decimal numbers" in problem, problem


def test_a_zone_is_refused() -> None:
    problem = url_problem("https://[fe80::1%25eth0]/hook", STRICT)
    assert problem is not None
    assert "zone" in problem


def test_localhost_is_refused_unless_loopback_is_allowed() -> None:
    for host in ("localhost", "api.localhost", "LOCALHOST."):
        assert url_problem(f"https://{host}/hook", STRICT) is not None, host
        assert url_problem(f"https://{host}/hook", DEVELOPMENT) is None, host


def test_the_development_settings_allow_a_local_receiver() -> None:
    assert url_problem("http://127.0.0.1:8080/hook", DEVELOPMENT) is None
    assert url_problem("http://[::1]:8080/hook", DEVELOPMENT) is None
    # Loopback is the only range the test setting opens.
    problem = url_problem("http://10.0.0.1:8080/hook", DEVELOPMENT)
    assert problem is not None
    assert "not a public" in problem
    assert url_problem("http://127.0.0.1:9090/hook", DEVELOPMENT) is not None  # the port list still applies
