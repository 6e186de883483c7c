"""Who opened or clicked: a person, or a machine acting on the message. Pure.

Open and click tracking does not exist yet (a later issue adds the pixel and the click
redirect); this module is the rule set it will use, so that only people's engagement
feeds health signals and engagement rates (`Metric.OPENS`, `Metric.CLICKS`) and machine
events are kept apart with their reason (`Metric.OPENS_MACHINE`, `Metric.CLICKS_SCANNER`).

Machine opens (images fetched by something other than the reader's mail client):
- privacy proxies: Apple Mail Privacy Protection prefetches every image through Apple's
  proxies (Apple's own networks, 17.0.0.0/8, with the bare user agent "Mozilla/5.0");
  Gmail's image proxy ("... (via ggpht.com GoogleImageProxy)"); Yahoo's
  ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html");
  a bare "Mozilla/5.0" anywhere else (no mail client sends only that);
- security gateways, link previewers and HTTP libraries (see clicks);
- no user agent at all, or a fetch within `open_too_soon` seconds of the relay's
  acceptance (a gateway scanning the message on arrival).

Machine clicks (links followed by something other than the reader):
- known security scanners (Barracuda, Mimecast, Proofpoint, ...), link previewers
  (chat apps and social networks unfurling a link), HTTP libraries, headless browsers
  and crawlers, by user agent;
- HEAD (or OPTIONS) requests: they ask whether the link works, not for the page;
- a click within `click_too_soon` seconds of the relay's acceptance;
- `burst_links` or more links of one message clicked within the same second.

Gmail's proxy fetches only when the reader opens the message, so its opens are real
events with an unknown client; they are still kept out of health, since their timing
and count depend on the proxy's caching, not on the reader.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "APPLE_NETWORKS",
    "DEFAULT_RULES",
    "Actor",
    "Engagement",
    "EngagementRules",
    "Reason",
    "classify_click",
    "classify_open",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Actor(StrEnum):
    HUMAN = "human"  # the reader
    MACHINE = "machine"  # a proxy, scanner, previewer or script: kept out of health


class Reason(StrEnum):
    """Why an event was judged as it was."""

    HUMAN = "human"  # nothing marked it as a machine
    APPLE_PRIVACY_PROXY = "apple_privacy_proxy"  # Apple Mail Privacy Protection prefetch
    GOOGLE_IMAGE_PROXY = "google_image_proxy"  # Gmail's image proxy
    YAHOO_MAIL_PROXY = "yahoo_mail_proxy"  # Yahoo Mail's image proxy
    GENERIC_USER_AGENT = "generic_user_agent"  # a bare "Mozilla/5.0": a proxy or scanner
    SECURITY_SCANNER = "security_scanner"  # a mail security gateway checking links/images
    LINK_PREVIEW = "link_preview"  # a chat or social app unfurling a link
    AUTOMATION = "automation"  # an HTTP library, headless browser or crawler
    NO_USER_AGENT = "no_user_agent"  # no User-Agent header at all
    HEAD_REQUEST = "head_request"  # a click that asked only for headers
    TOO_SOON = "too_soon"  # seconds after the relay accepted the message
    BURST = "burst"  # many links of one message clicked in the same second


@dataclass(frozen=True, slots=True)
class Engagement:
    actor: Actor
    reason: Reason
    detail: str = ""  # what matched, for people reading the event

    @property
    def is_human(self) -> bool:
        return self.actor is Actor.HUMAN

    @property
    def counts_for_health(self) -> bool:
        """Only people's opens and clicks are health and engagement signals."""
        return self.is_human


# Apple's own address space: 17.0.0.0/8 and its IPv6 allocations (ARIN, RIPE, APNIC).
APPLE_NETWORKS: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n) for n in ("17.0.0.0/8", "2620:149::/32", "2a01:b740::/32",
                                      "2403:300::/32")
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class EngagementRules:
    open_too_soon: float = 2.0  # seconds after acceptance: an open this early is a scan
    click_too_soon: float = 5.0  # seconds after acceptance: a click this early is a scan
    burst_links: int = 3  # distinct links of one message in one second: a scanner
    apple_networks: tuple[Network, ...] = APPLE_NETWORKS


DEFAULT_RULES = EngagementRules()

# User-agent markers, matched case-insensitively anywhere in the header, first match wins.
_MARKERS: tuple[tuple[Reason, tuple[str, ...]], ...] = (
    (Reason.GOOGLE_IMAGE_PROXY, (r"GoogleImageProxy", r"via ggpht\.com")),
    (Reason.YAHOO_MAIL_PROXY, (r"YahooMailProxy",)),
    (
        Reason.SECURITY_SCANNER,
        (
            r"Barracuda", r"Mimecast", r"Proofpoint", r"urldefense", r"Forcepoint",
            r"Symantec", r"McAfee", r"IronPort", r"Sophos", r"Trend ?Micro", r"Bitdefender",
            r"Zscaler", r"FireEye", r"Trellix", r"Palo ?Alto", r"Check ?Point", r"Avanan",
            r"Abnormal ?Security", r"Cloudmark", r"Vade ?Secure", r"Hornet ?Security",
            r"SpamTitan", r"Libraesva",
        ),
    ),
    (
        Reason.LINK_PREVIEW,
        (
            r"facebookexternalhit", r"Slackbot", r"Twitterbot", r"LinkedInBot", r"WhatsApp",
            r"TelegramBot", r"Discordbot", r"SkypeUriPreview", r"Iframely", r"Embedly",
            r"redditbot", r"Pinterestbot",
        ),
    ),
    (
        Reason.AUTOMATION,
        (
            r"HeadlessChrome", r"PhantomJS", r"python-requests", r"python-urllib",
            r"python-httpx", r"aiohttp", r"\bcurl/", r"\bWget", r"Go-http-client",
            r"\bJava/", r"okhttp", r"libwww-perl", r"Apache-HttpClient", r"\bAHC/",
            r"node-fetch", r"\baxios/", r"Scrapy", r"(?:bot|crawler|spider)/",
            r"\bcompatible; [A-Za-z]*bot\b",
        ),
    ),
)  # fmt: skip
_COMPILED: tuple[tuple[Reason, re.Pattern[str]], ...] = tuple(
    (reason, re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE))
    for reason, patterns in _MARKERS
)
_GENERIC = re.compile(r"\s*Mozilla/\d+(?:\.\d+)?\s*")
_NOT_A_VISIT = frozenset({"HEAD", "OPTIONS"})


def _human() -> Engagement:
    return Engagement(Actor.HUMAN, Reason.HUMAN)


def _machine(reason: Reason, detail: str) -> Engagement:
    return Engagement(Actor.MACHINE, reason, detail)


def _in_networks(ip: str | None, networks: tuple[Network, ...]) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    return any(address in network for network in networks)


def _by_user_agent(user_agent: str | None, ip: str | None, rules: EngagementRules) -> Engagement:
    """A machine the user agent (and, for a bare one, the address) gives away; else human."""
    if user_agent is None or not user_agent.strip():
        return _machine(Reason.NO_USER_AGENT, "no User-Agent header")
    for reason, pattern in _COMPILED:
        found = pattern.search(user_agent)
        if found:
            return _machine(reason, f"user agent contains {found.group(0)!r}")
    if _GENERIC.fullmatch(user_agent):
        if _in_networks(ip, rules.apple_networks):
            return _machine(Reason.APPLE_PRIVACY_PROXY, f"bare user agent from Apple's {ip}")
        return _machine(Reason.GENERIC_USER_AGENT, f"bare user agent {user_agent.strip()!r}")
    return _human()


def _too_soon(seconds_since_sent: float | None, limit: float) -> bool:
    return seconds_since_sent is not None and 0 <= seconds_since_sent < limit


def classify_open(
    user_agent: str | None,
    ip: str | None,
    seconds_since_sent: float | None,
    rules: EngagementRules = DEFAULT_RULES,
) -> Engagement:
    """An open (the tracking image fetched) by the reader or by a machine, and why.

    `seconds_since_sent`: since the relay accepted the message (None: unknown)."""
    found = _by_user_agent(user_agent, ip, rules)
    if not found.is_human:
        return found
    if _too_soon(seconds_since_sent, rules.open_too_soon):
        return _machine(Reason.TOO_SOON, f"{seconds_since_sent:.1f}s after acceptance")
    return found


def classify_click(
    user_agent: str | None,
    ip: str | None,
    method: str,
    seconds_since_sent: float | None,
    links_clicked_same_second: int,
    rules: EngagementRules = DEFAULT_RULES,
) -> Engagement:
    """A click (a tracked link followed) by the reader or by a machine, and why.

    `links_clicked_same_second`: distinct links of the same message clicked in the
    second of this click, this one included."""
    if method.strip().upper() in _NOT_A_VISIT:
        return _machine(Reason.HEAD_REQUEST, f"{method.strip().upper()} request")
    found = _by_user_agent(user_agent, ip, rules)
    if not found.is_human:
        return found
    if links_clicked_same_second >= rules.burst_links:
        return _machine(Reason.BURST, f"{links_clicked_same_second} links in one second")
    if _too_soon(seconds_since_sent, rules.click_too_soon):
        return _machine(Reason.TOO_SOON, f"{seconds_since_sent:.1f}s after acceptance")
    return found
