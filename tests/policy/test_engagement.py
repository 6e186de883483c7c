"""Engagement hygiene: opens by privacy proxies and clicks by scanners are machines."""

from __future__ import annotations

import pytest

from relaylane.policy.engagement import (
    Actor,
    EngagementRules,
    Reason,
    classify_click,
    classify_open,
)

# Real-world user agents.
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
APPLE_MAIL_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
OUTLOOK_DESKTOP = (
    "Mozilla/4.0 (compatible; ms-office; MSOffice 16) Microsoft Outlook 16.0.17328; Pro"
)
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.10.1"
ANDROID_GMAIL_WEBVIEW = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UQ1A.240205.004; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/123.0.6312.118 Mobile Safari/537.36"
)
CUBOT_PHONE = (  # "bot" inside a phone's model name is not a bot
    "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
BARRACUDA = "Barracuda Sentinel (EE)"
MIMECAST = "Mozilla/5.0 (compatible; Mimecast URL Protect)"
PROOFPOINT = "Mozilla/5.0 (compatible; Proofpoint URL Defense)"
SLACK = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
FACEBOOK = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/122.0.6261.94 Safari/537.36"
)
PY_REQUESTS = "python-requests/2.31.0"
CURL = "curl/8.5.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GO_CLIENT = "Go-http-client/1.1"

APPLE_IP = "17.58.101.12"
APPLE_V6 = "2a01:b740:a20:3000::1f2"
HOME_IP = "203.0.113.24"
MS_IP = "40.94.31.10"

M, H = Actor.MACHINE, Actor.HUMAN


@pytest.mark.parametrize(
    ("user_agent", "ip", "seconds", "actor", "reason"),
    [
        ("Mozilla/5.0", APPLE_IP, 40.0, M, Reason.APPLE_PRIVACY_PROXY),
        ("Mozilla/5.0", APPLE_V6, 3600.0, M, Reason.APPLE_PRIVACY_PROXY),
        ("Mozilla/5.0", HOME_IP, 40.0, M, Reason.GENERIC_USER_AGENT),
        (" Mozilla/5.0 ", None, None, M, Reason.GENERIC_USER_AGENT),
        (GMAIL_PROXY, "66.249.84.10", 600.0, M, Reason.GOOGLE_IMAGE_PROXY),
        (YAHOO_PROXY, "98.136.1.1", 600.0, M, Reason.YAHOO_MAIL_PROXY),
        (BARRACUDA, MS_IP, 1.0, M, Reason.SECURITY_SCANNER),
        (MIMECAST, HOME_IP, 30.0, M, Reason.SECURITY_SCANNER),
        (PY_REQUESTS, HOME_IP, 30.0, M, Reason.AUTOMATION),
        (GOOGLEBOT, "66.249.66.1", 30.0, M, Reason.AUTOMATION),
        ("", HOME_IP, 30.0, M, Reason.NO_USER_AGENT),
        (None, HOME_IP, 30.0, M, Reason.NO_USER_AGENT),
        (IPHONE_SAFARI, HOME_IP, 0.8, M, Reason.TOO_SOON),  # fetched on arrival
        (IPHONE_SAFARI, HOME_IP, 95.0, H, Reason.HUMAN),
        (APPLE_MAIL_MAC, HOME_IP, 300.0, H, Reason.HUMAN),
        (APPLE_MAIL_MAC, APPLE_IP, 300.0, H, Reason.HUMAN),  # full agent: no MPP prefetch
        (OUTLOOK_DESKTOP, MS_IP, 1200.0, H, Reason.HUMAN),
        (THUNDERBIRD, HOME_IP, 45.0, H, Reason.HUMAN),
        (ANDROID_GMAIL_WEBVIEW, HOME_IP, 20.0, H, Reason.HUMAN),
        (CUBOT_PHONE, HOME_IP, 20.0, H, Reason.HUMAN),
        (CHROME_WINDOWS, "not an ip", None, H, Reason.HUMAN),
        (CHROME_WINDOWS, HOME_IP, -5.0, H, Reason.HUMAN),  # clock skew: not "too soon"
    ],
)
def test_classify_open(
    user_agent: str | None, ip: str | None, seconds: float | None, actor: Actor, reason: Reason
) -> None:
    found = classify_open(user_agent, ip, seconds)
    assert (found.actor, found.reason) == (actor, reason), found.detail
    assert found.counts_for_health is (actor is H)
    assert (found.detail == "") is (actor is H)


@pytest.mark.parametrize(
    ("user_agent", "method", "seconds", "same_second", "actor", "reason"),
    [
        (CHROME_WINDOWS, "HEAD", 120.0, 1, M, Reason.HEAD_REQUEST),
        (CHROME_WINDOWS, "options", 120.0, 1, M, Reason.HEAD_REQUEST),
        (BARRACUDA, "GET", 2.0, 1, M, Reason.SECURITY_SCANNER),
        (PROOFPOINT, "GET", 40.0, 1, M, Reason.SECURITY_SCANNER),
        (MIMECAST, "GET", 40.0, 1, M, Reason.SECURITY_SCANNER),
        (SLACK, "GET", 4000.0, 1, M, Reason.LINK_PREVIEW),
        (FACEBOOK, "GET", 4000.0, 1, M, Reason.LINK_PREVIEW),
        (HEADLESS, "GET", 30.0, 1, M, Reason.AUTOMATION),
        (CURL, "GET", 30.0, 1, M, Reason.AUTOMATION),
        (GO_CLIENT, "GET", 30.0, 1, M, Reason.AUTOMATION),
        ("Mozilla/5.0", "GET", 30.0, 1, M, Reason.GENERIC_USER_AGENT),
        (None, "GET", 30.0, 1, M, Reason.NO_USER_AGENT),
        # a generic-looking browser: caught by behaviour, not by its name
        (CHROME_WINDOWS, "GET", 1.5, 1, M, Reason.TOO_SOON),
        (CHROME_WINDOWS, "GET", 60.0, 6, M, Reason.BURST),
        (CHROME_WINDOWS, "GET", 60.0, 2, H, Reason.HUMAN),
        (IPHONE_SAFARI, "GET", 12.0, 1, H, Reason.HUMAN),
        (FIREFOX_LINUX, "get", 86_400.0, 1, H, Reason.HUMAN),
        (CUBOT_PHONE, "GET", 300.0, 1, H, Reason.HUMAN),
        (OUTLOOK_DESKTOP, "GET", None, 1, H, Reason.HUMAN),
    ],
)
def test_classify_click(
    user_agent: str | None,
    method: str,
    seconds: float | None,
    same_second: int,
    actor: Actor,
    reason: Reason,
) -> None:
    found = classify_click(user_agent, HOME_IP, method, seconds, same_second)
    assert (found.actor, found.reason) == (actor, reason), found.detail
    assert found.is_human is (actor is H)


def test_detail_names_what_matched() -> None:
    assert "Barracuda" in classify_click(BARRACUDA, MS_IP, "GET", 2.0, 1).detail
    assert APPLE_IP in classify_open("Mozilla/5.0", APPLE_IP, 60.0).detail
    assert "6 links" in classify_click(CHROME_WINDOWS, HOME_IP, "GET", 60.0, 6).detail


def test_thresholds_are_data() -> None:
    strict = EngagementRules(open_too_soon=60.0, click_too_soon=60.0, burst_links=2)
    assert classify_open(IPHONE_SAFARI, HOME_IP, 30.0, strict).reason is Reason.TOO_SOON
    assert classify_click(CHROME_WINDOWS, HOME_IP, "GET", 90.0, 2, strict).reason is Reason.BURST
    assert classify_open(IPHONE_SAFARI, HOME_IP, 30.0).is_human
