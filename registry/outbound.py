"""Outbound HTTP to addresses users choose (webhook receivers), safe against SSRF.

`post()` resolves the host itself, refuses any address that is not public (loopback,
private, link-local, unspecified, multicast, reserved, shared, and IPv4 inside IPv6 forms
of those) unless a site admin allowed the exact host, and then connects to the address it
checked, sending the original Host header and TLS server name. So a DNS answer that
changes between the check and the connection (rebinding) cannot reach an internal
address. Redirects are never followed, timeouts are short and the response body read is
capped.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.core.exceptions import ValidationError

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
MAX_RESPONSE_BYTES = 4096  # of the body, kept as the delivery's excerpt
MAX_URL_LENGTH = 2000
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> addresses; tests replace it to play DNS.
Resolver = Callable[[str, int], list[str]]


class UnsafeDestination(Exception):
    """The URL may not be called: not a valid http(s) URL, or a non-public address."""


class UnresolvableHost(Exception):
    """The host has no address now (worth trying again later)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lowercased, without IPv6 brackets
    port: int
    path: str  # with the query string

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Response:
    status: int
    excerpt: str
    address: str


def parse_url(url: str) -> Target:
    """The parts of an http(s) URL; ValidationError naming the rule otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("Enter the receiver's URL.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"A webhook URL has at most {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValidationError("A webhook URL cannot contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"This is not a valid URL: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValidationError(
            f"A webhook URL must start with http:// or https:// (not {scheme or 'nothing'}:)."
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            "A webhook URL cannot contain a user name or password; receivers check the "
            "signature instead."
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise ValidationError("A webhook URL needs a host name.")
    if parts.fragment:
        raise ValidationError("A webhook URL cannot have a #fragment.")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


resolver: Resolver = system_resolver


def non_public_reason(address: IPAddress) -> str | None:
    """Why connecting to this address is refused, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return non_public_reason(embedded)
    for reason, flag in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not public", not address.is_global),
    ):
        if flag:
            return reason
    return None


def check_destination(target: Target, allowed_hosts: Collection[str]) -> list[str]:
    """The addresses to connect to, all checked: UnsafeDestination when any is refused,
    UnresolvableHost when there are none."""
    try:
        addresses = resolver(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise UnresolvableHost(f"{target.host} cannot be resolved ({exc}).") from None
    if not addresses:
        raise UnresolvableHost(f"{target.host} has no address.")
    if target.host in allowed_hosts:
        return addresses
    for text in addresses:
        reason = non_public_reason(ipaddress.ip_address(text.split("%")[0]))
        if reason:
            raise UnsafeDestination(
                f"{target.host} resolves to {text}, a {reason} address; webhooks only reach "
                "public addresses unless a site admin allows this host."
            )
    return addresses


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allowed_hosts: Collection[str] = (),
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
) -> Response:
    """POST body to url at a checked address. Raises UnsafeDestination for a refused URL,
    UnresolvableHost, and urllib3's HTTPError (refused, timed out, TLS…) for a failed try."""
    try:
        target = parse_url(url)
    except ValidationError as exc:
        raise UnsafeDestination(exc.messages[0]) from None
    address = check_destination(target, allowed_hosts)[0]
    timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            target.port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False)
    sent = {**headers, "Host": target.host_header, "Accept-Encoding": "identity"}
    deadline = time.monotonic() + connect_timeout + read_timeout
    with pool:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers=sent,
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
        )
        try:
            data = b""
            # Bounded in size and in time: a receiver dripping bytes cannot hold us.
            while len(data) < MAX_RESPONSE_BYTES and time.monotonic() < deadline:
                chunk = response.read(MAX_RESPONSE_BYTES - len(data), decode_content=False)
                if not chunk:
                    break
                data += chunk
        finally:
            response.release_conn()
            response.close()
    excerpt = data.decode("utf-8", errors="replace")
    location = response.headers.get("Location")
    if 300 <= response.status < 400 and location:
        excerpt = f"Location: {location}\n\n{excerpt}"
    return Response(status=response.status, excerpt=excerpt, address=address)
