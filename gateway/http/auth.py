"""Bearer tokens with scopes (read, write, admin), compared in constant time."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gateway.http.errors import problem

SCOPES = ("read", "write", "admin")


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A named token and what it may do."""

    name: str
    secret: str
    scopes: frozenset[str]


class AuthConfigError(ValueError):
    """The token configuration is malformed (the message never contains a secret)."""


def parse_tokens(spec: str) -> list[ApiToken]:
    """``name:token:scope+scope`` entries separated by commas (or newlines, for files)."""
    out = []
    for n, entry in enumerate(spec.replace("\n", ",").split(","), start=1):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        parts = entry.split(":")
        if len(parts) != 3 or not parts[0] or len(parts[1]) < 8:
            raise AuthConfigError(f"TELEMATICS_API_TOKENS entry {n}: expected name:token:scopes"
                                  " with a token of at least 8 characters")
        scopes = frozenset(parts[2].split("+"))
        if not scopes or not scopes <= set(SCOPES):
            raise AuthConfigError(f"TELEMATICS_API_TOKENS entry {n} ({parts[0]}): scopes must be"
                                  f" among {'+'.join(SCOPES)}")
        out.append(ApiToken(parts[0], parts[1], scopes))
    return out


def load_tokens(inline: str, file: str) -> list[ApiToken]:
    """From TELEMATICS_API_TOKENS and/or the file named by TELEMATICS_API_TOKENS_FILE."""
    text = inline
    if file:
        try:
            text += "," + Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise AuthConfigError(f"TELEMATICS_API_TOKENS_FILE: cannot read {file}: "
                                  f"{exc.strerror}") from None
    return parse_tokens(text)


TOKENS = web.AppKey("tokens", list[ApiToken])
INSECURE = web.AppKey("insecure", bool)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def authenticate(request: web.Request) -> ApiToken | None:
    """The token presented, or None. Every configured token is compared (constant time)."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return None
    found = None
    for token in request.app[TOKENS]:
        if hmac.compare_digest(token.secret.encode(), presented.strip().encode()):
            found = token
    return found


def requires(scope: str) -> Callable[[Handler], Handler]:
    """Decorate a handler: 401 without a valid token, 403 without ``scope`` (admin has all)."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            if not request.app[INSECURE]:
                token = authenticate(request)
                if token is None:
                    exc = problem(401, "missing or invalid bearer token")
                    exc.headers["WWW-Authenticate"] = 'Bearer realm="telematics"'
                    raise exc
                if scope not in token.scopes and "admin" not in token.scopes:
                    raise problem(403, f"token {token.name!r} lacks the {scope!r} scope")
            return await handler(request)
        checked.scope = scope  # type: ignore[attr-defined]
        return checked
    return wrap
