"""Fetch one remote source of truth safely: http(s) only, every address checked on every hop,
connections pinned to the checked address, conditional GET, bounded retries, size cap.

No database here: `fetch` takes what it needs and returns a `FetchResult`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

log = logging.getLogger(__name__)
TEXT_TYPES = ("text/markdown", "text/x-markdown", "text/plain")
HTML_TYPES = ("text/html", "application/xhtml+xml")
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n.*?\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)


class Refused(Exception):
    """The URL may not be fetched (scheme, host or address not allowed); never retried."""


@dataclass(frozen=True)
class FetchPolicy:
    """What a fetch may do (built from `settings.remote`)."""

    allow_hosts: tuple[str, ...] = ()
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    timeout: float = 10.0
    retries: int = 2
    backoff: float = 0.5
    max_bytes: int = 1_000_000
    max_redirects: int = 5
    user_agent: str = "freshgate-remote-refresh/0.1"

    @classmethod
    def from_settings(cls, s) -> "FetchPolicy":
        """The policy of a `RemoteSettings`."""
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in s.allow_networks)
        return cls(tuple(h.lower() for h in s.allow_hosts), nets, s.timeout, s.retries, s.backoff,
                   s.max_bytes, s.max_redirects, s.user_agent)


@dataclass
class FetchResult:
    """The outcome of one fetch: `new` content, `not_modified`, or `failed` (with error)."""

    status: str
    content: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    final_url: str | None = None
    attempts: int = 0
    refused: bool = False
    hops: list[str] = field(default_factory=list)


def host_allowed(host: str, allow_hosts: tuple[str, ...]) -> bool:
    """True when no allow-list is set or the host matches an entry (exact, or `*.suffix`)."""
    if not allow_hosts:
        return True
    host = host.lower().rstrip(".")
    return any(host == a or (a.startswith("*.") and host.endswith(a[1:])) for a in allow_hosts)


def address_refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not a public one (None when it is)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for attr in ("is_loopback", "is_link_local", "is_private", "is_reserved", "is_multicast", "is_unspecified"):
        if getattr(ip, attr):
            return attr.removeprefix("is_").replace("_", "-")
    if not ip.is_global:
        return "not-global"
    return None


async def resolve_checked(url: httpx.URL, policy: FetchPolicy) -> str:
    """Check scheme and host, resolve it, check every address; the address to connect to."""
    if url.scheme not in ("http", "https"):
        raise Refused(f"{url.scheme}: URLs are not fetched (only http and https)")
    host = url.host
    if not host:
        raise Refused("the URL has no host")
    if not host_allowed(host, policy.allow_hosts):
        raise Refused(f"host {host} is not in remote.allow_hosts")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, url.port or (443 if url.scheme == "https" else 80),
                                                             type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror or exc}") from None
    addrs = list(dict.fromkeys(info[4][0] for info in infos))
    if not addrs:
        raise OSError(f"cannot resolve {host}")
    for a in addrs:
        ip = ipaddress.ip_address(a.split("%", 1)[0])
        why = address_refusal(ip)
        if why and not any(ip.version == n.version and ip in n for n in policy.allow_networks):
            raise Refused(f"{host} resolves to {a} ({why} address); refused unless in remote.allow_networks")
    return addrs[0]


def strip_front_matter(text: str) -> str:
    """The body of a Markdown text, without a leading YAML front matter block."""
    return _FRONT_MATTER.sub("", text, count=1).lstrip("\n")


class _HtmlText(HTMLParser):
    """HTML -> readable text; headings become Markdown headings so sections survive."""

    SKIP = {"script", "style", "head", "noscript", "template"}
    BLOCK = {"p", "div", "li", "tr", "br", "section", "article", "pre", "table", "ul", "ol", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCK:
            self.out.append("\n\n" if tag != "li" else "\n- ")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Visible text of an HTML page, headings as Markdown headings."""
    p = _HtmlText()
    p.feed(html)
    lines = [ln.strip() for ln in "".join(p.out).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _decode(data: bytes, content_type: str) -> str:
    m = re.search(r"charset=([\w.-]+)", content_type, re.I)
    try:
        return data.decode(m.group(1) if m else "utf-8", errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


async def _read_capped(resp: httpx.Response, max_bytes: int) -> bytes:
    declared = resp.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise Refused(f"response is {int(declared)} bytes, over the {max_bytes}-byte limit")
    buf = bytearray()
    async for chunk in resp.aiter_bytes():
        buf += chunk
        if len(buf) > max_bytes:
            raise Refused(f"response is over the {max_bytes}-byte limit; download aborted")
    return bytes(buf)


async def _drain(resp: httpx.Response, limit: int = 65536) -> None:
    """Read a small leftover body (304, redirect, error page) so the connection can be reused."""
    try:
        await _read_capped(resp, limit)
    except (Refused, httpx.HTTPError):
        pass  # too big or broken: the connection is closed instead of reused


class _Retry(Exception):
    """A failure worth retrying (network error, timeout, 5xx, 429)."""


async def _attempt(client: httpx.AsyncClient, url: str, headers: dict, policy: FetchPolicy,
                   result: FetchResult) -> FetchResult:
    current = httpx.URL(url)
    result.hops = []
    for _hop in range(policy.max_redirects + 1):
        ip = await resolve_checked(current, policy)
        result.hops.append(str(current))
        target = current.copy_with(host=ip)
        hdrs = {**headers, "Host": current.netloc.decode("ascii")}
        ext = {"sni_hostname": current.host} if current.scheme == "https" else {}
        req = client.build_request("GET", target, headers=hdrs, extensions=ext)
        resp = await client.send(req, stream=True, follow_redirects=False)
        try:
            if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("location"):
                current = current.join(resp.headers["location"])
                continue
            if resp.status_code == 304:
                return FetchResult("not_modified", etag=resp.headers.get("etag") or headers.get("If-None-Match"),
                                   last_modified=resp.headers.get("last-modified") or headers.get("If-Modified-Since"),
                                   final_url=str(current))
            if resp.status_code >= 500 or resp.status_code == 429:
                raise _Retry(f"HTTP {resp.status_code} from {current.host}")
            if resp.status_code != 200:
                return FetchResult("failed", error=f"HTTP {resp.status_code} from {current.host}", final_url=str(current))
            ctype = resp.headers.get("content-type", "text/plain").lower()
            mime = ctype.split(";", 1)[0].strip()
            if mime not in TEXT_TYPES + HTML_TYPES:
                return FetchResult("failed", error=f"unsupported content type {mime}", final_url=str(current))
            text = _decode(await _read_capped(resp, policy.max_bytes), ctype)
            text = html_to_text(text) if mime in HTML_TYPES else strip_front_matter(text)
            if not text.strip():
                return FetchResult("failed", error="the response is empty", final_url=str(current))
            return FetchResult("new", content=text, etag=resp.headers.get("etag"),
                               last_modified=resp.headers.get("last-modified"), final_url=str(current))
        finally:
            if not resp.is_stream_consumed:
                await _drain(resp)
            await resp.aclose()
    raise Refused(f"more than {policy.max_redirects} redirects")


async def fetch(client: httpx.AsyncClient, url: str, policy: FetchPolicy, *, etag: str | None = None,
                last_modified: str | None = None) -> FetchResult:
    """GET a remote source (conditionally), retrying transient failures with exponential backoff."""
    headers = {"User-Agent": policy.user_agent, "Accept": "text/markdown, text/plain;q=0.9, text/html;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    result = FetchResult("failed")
    for attempt in range(policy.retries + 1):
        result.attempts = attempt + 1
        try:
            async with asyncio.timeout(policy.timeout):
                out = await _attempt(client, url, headers, policy, result)
            out.attempts, out.hops = attempt + 1, result.hops
            return out
        except Refused as exc:
            return FetchResult("failed", error=str(exc), refused=True, attempts=attempt + 1, hops=result.hops)
        except (_Retry, httpx.HTTPError, OSError, TimeoutError) as exc:
            result.error = str(exc) or type(exc).__name__
            if isinstance(exc, TimeoutError):
                result.error = f"timed out after {policy.timeout:g}s"
        if attempt < policy.retries:
            await asyncio.sleep(policy.backoff * (2 ** attempt))
    log.info("fetch of %s failed after %d attempts: %s", url, result.attempts, result.error)
    return result
