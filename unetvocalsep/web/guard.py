"""Who may talk to the web demo: Host names, origins and per-page tokens.

Without these, any web page the user visits could queue jobs on the user's
server (a cross-origin multipart POST needs no permission: CSRF), and a
page on a domain that re-resolves to 127.0.0.1 (DNS rebinding) could read
the results (issue 28). The rules:

- **Host.** Every request must name this server: an IP address (a
  rebinding attack needs a domain name), ``localhost``, this machine's own
  names, or a name given with ``--allow-host`` (the public name behind a
  reverse proxy). Anything else gets 421.
- **Origin.** A request that says where it comes from (``Origin``, or a
  browser's ``Sec-Fetch-Site: cross-site``) must come from this server's own
  origin or one given with ``--allow-origin``. Anything else gets 403.
  Programs such as curl send no Origin and are not browsers: CSRF needs one.
- **Token.** ``POST`` needs the header ``X-Unetvocalsep-Token`` with a token
  from the page (or ``GET /api/token``). A token is a random nonce and its
  HMAC under a key made when the server starts, so it is valid for this
  server's lifetime and no other; a page of another origin cannot read one.

Examples
--------
>>> g = Guard(allow_hosts=["sep.example.com"])
>>> g.host_ok("127.0.0.1:8000"), g.host_ok("sep.example.com"), g.host_ok("evil.example:8000")
(True, True, False)
>>> g.origin_ok("http://127.0.0.1:8000", "127.0.0.1:8000", "http")
True
>>> g.origin_ok("https://evil.example", "127.0.0.1:8000", "http")
False
>>> g.token_ok(g.new_token()), g.token_ok("forged.token")
(True, False)
"""
import hashlib
import hmac
import ipaddress
import secrets
import socket

__all__ = ["Guard", "TOKEN_HEADER"]

#: The request header that carries the page token on POST.
TOKEN_HEADER = "X-Unetvocalsep-Token"


def _hostname(host):
    """The name part of a ``Host`` header: no port, no IPv6 brackets, lower case."""
    host = (host or "").strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else ""
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_ip(name):
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _machine_names():
    names = {"localhost"}
    for get in (socket.gethostname, socket.getfqdn):
        try:
            names.add(get().lower())
        except OSError:
            pass
    return names


class Guard:
    """The Host, Origin and token rules of one server.

    Parameters
    ----------
    allow_hosts : iterable of str
        Extra host names to answer to (``--allow-host``), e.g. the public
        name of a reverse proxy.
    allow_origins : iterable of str
        Extra origins whose pages may post (``--allow-origin``), such as
        ``https://sep.example.com``; ``*`` allows any (not advised).
    """

    def __init__(self, allow_hosts=(), allow_origins=()):
        self.hosts = _machine_names() | {_hostname(h) for h in allow_hosts}
        self.origins = {o.strip().rstrip("/").lower() for o in allow_origins}
        self._key = secrets.token_bytes(32)

    def host_ok(self, host):
        """Whether the ``Host`` header names this server.

        Parameters
        ----------
        host : str or None

        Returns
        -------
        bool
        """
        name = _hostname(host)
        return bool(name) and (_is_ip(name) or name in self.hosts)

    def origin_ok(self, origin, host, scheme, fetch_site=None):
        """Whether a request's stated origin may act on this server.

        Parameters
        ----------
        origin : str or None
            The ``Origin`` header (None: not sent).
        host : str
            The ``Host`` header.
        scheme : str
            ``http`` or ``https``, as the server sees the request.
        fetch_site : str or None
            The ``Sec-Fetch-Site`` header.

        Returns
        -------
        bool
        """
        if origin is None:
            return fetch_site not in ("cross-site", "same-site")
        origin = origin.strip().rstrip("/").lower()
        if origin == f"{scheme}://{(host or '').strip().lower()}":
            return True
        return "*" in self.origins or origin in self.origins

    def new_token(self):
        """A token for one page.

        Returns
        -------
        str
        """
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._sign(nonce)}"

    def token_ok(self, token):
        """Whether ``token`` was made by :meth:`new_token` of this server.

        Parameters
        ----------
        token : str or None

        Returns
        -------
        bool
        """
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 200:
            return False
        nonce, sig = token.split(".")
        return hmac.compare_digest(sig, self._sign(nonce))

    def _sign(self, nonce):
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()
