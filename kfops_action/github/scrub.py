"""Keep every secret the action knows out of PR comments and the job log.

Two layers, because either alone leaks:
- `::add-mask::` makes the *runner* hide a value in the log, but does nothing for text we post to
  GitHub (a comment is not a log), and only protects the log from the moment it is printed.
- `Scrubber.scrub` replaces every known secret in any text before it is posted or logged.

A secret is registered in the forms it is likely to appear in: as is, URL-encoded, JSON-escaped,
base64 (and base64 of `x-access-token:<token>`, the form actions/checkout puts in git's
extraheader), each line of a multi-line value, and each value of a `Cookie` string. Values that
merely *look like* credentials (GitHub tokens, JWTs, `Bearer ...`, `authservice_session=...`,
the user information of any URL, `?token=`-like query values) are scrubbed too, so a token we were
never told about is still caught. A URL that holds credentials (a Kubeflow endpoint
`https://user:pass@host/t/<token>/pipeline?key=...`) registers its secret parts (`url_secrets`):
every link built on it is then posted with `***` in their place.

Registered values are replaced with `str.replace` (longest first) and each shape is one regex
that starts with a literal: scrubbing a 5 MB log takes tens of milliseconds.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlsplit

REDACTED = "***"
# Shorter values would turn ordinary words into *** everywhere; they are masked by the runner
# (add-mask) but not scrubbed from posted text.
MIN_SCRUB_LENGTH = 6

# Environment variables whose *names* say they hold a secret.
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|COOKIE|CREDENTIAL|API_KEY|PRIVATE_KEY|AUTH)",
                         re.IGNORECASE)
# ...except these, which are not secrets though their names match.
NOT_SECRET = frozenset({"KF_PIPELINES_AUTH_TYPE", "INPUT_AUTH-TYPE", "GITHUB_TOKEN_PERMISSIONS"})

# Shapes of credentials, scrubbed even when nobody registered them: (regex, characters one of
# which must precede the match). Each regex starts with a literal, which lets the regex engine
# skip through a 5 MB log in milliseconds; a group named `s` is the part replaced (else all).
PATTERNS: tuple[tuple[str, str], ...] = (
    (r"gh[pousr]_[A-Za-z0-9]{30,}", ""),                          # GitHub tokens (PAT, app, ...)
    (r"github_pat_[A-Za-z0-9_]{40,}", ""),                         # fine-grained PATs
    (r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", ""),  # JWTs (OIDC, SA tokens)
    (r"earer (?P<s>[A-Za-z0-9._~+/=-]{12,})", "Bb"),              # Authorization: Bearer <value>
    (r"EARER (?P<s>[A-Za-z0-9._~+/=-]{12,})", "B"),
    (r"asic (?P<s>[A-Za-z0-9+/=]{12,})", "Bb"),                   # Authorization: Basic <value>
    (r"authservice_session=(?P<s>[^;\s\"']+)", ""),               # Kubeflow's authservice cookie
    (r"oauth2_proxy_kubeflow=(?P<s>[^;\s\"']+)", ""),
    (r"://(?P<s>[^/?#\s@\"'<>`]+)@", ""),                          # user[:password]@ in URLs
    # ?token=, &api_key=, ?X-Amz-Signature=, ...: a query value whose name says it is a secret
    (r"[?&][\w.~-]{0,40}?(?i:token|secret|passw|pwd|key|sig|auth|session|credential)[\w.~-]{0,40}="
     r"(?P<s>[^&#\s\"'<>`)\]]+)", ""),
)
# A path segment that reads like a token rather than a name: long, with letters and digits.
_TOKEN_SEGMENT = re.compile(r"(?=(?:[^0-9]*[0-9]){3})(?=(?:[^A-Za-z]*[A-Za-z]){3})[\w.~+=-]{16,}\Z")


def _forms(secret: str) -> set[str]:
    if len(secret) < MIN_SCRUB_LENGTH:
        return set()
    forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
    encoded = secret.encode("utf-8")
    forms.add(base64.b64encode(encoded).decode("ascii"))
    forms.add(base64.b64encode(b"x-access-token:" + encoded).decode("ascii"))
    if "\n" in secret:
        forms.update(line.strip() for line in secret.splitlines())
    if "=" in secret.rstrip("="):
        for pair in secret.split(";"):  # a Cookie header: each value is a secret on its own
            _, _, value = pair.partition("=")
            forms.add(value.strip())
    return {f for f in forms if len(f) >= MIN_SCRUB_LENGTH}


class Scrubber:
    """The set of known secrets, and the one function that removes them from text."""

    def __init__(self, secrets: Iterable[str | None] = (), *,
                 mask: Callable[[str], None] | None = None,
                 patterns: Iterable[tuple[str, str]] = PATTERNS) -> None:
        self._mask = mask
        self._patterns = [(re.compile(regex), before) for regex, before in patterns]
        self._literals: set[str] = set()
        self._ordered: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Register a secret: masked in the log (if a mask function was given), scrubbed from text."""
        if not secret or not secret.strip():
            return
        secret = secret.strip()
        new = _forms(secret) - self._literals
        if self._mask is not None:
            self._mask(secret)
            for form in sorted(new - {secret}):
                self._mask(form)
        if new:
            self._literals |= new
            self._ordered = sorted(self._literals, key=lambda s: (-len(s), s))  # longest first

    def __contains__(self, secret: str) -> bool:
        return secret in self._literals

    def scrub(self, text: str) -> str:
        if not text:
            return text
        for literal in self._ordered:
            if literal in text:
                text = text.replace(literal, REDACTED)
        for regex, before in self._patterns:
            text = regex.sub(lambda m, b=before: _redact(m, b), text)  # type: ignore[misc]
        return text

    __call__ = scrub

    def scrub_data(self, data: object) -> object:
        """Every string in a JSON-like structure (request bodies), keys left alone."""
        if isinstance(data, str):
            return self.scrub(data)
        if isinstance(data, dict):
            return {k: self.scrub_data(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.scrub_data(v) for v in data]
        return data


def _redact(match: re.Match[str], before: str) -> str:
    whole = match.group(0)
    if before:
        start = match.start()
        if start == 0 or match.string[start - 1] not in before:
            return whole
    if "s" not in match.re.groupindex:
        return REDACTED
    offset = match.start()
    return whole[: match.start("s") - offset] + REDACTED + whole[match.end("s") - offset:]


def url_secrets(url: str | None) -> list[str]:
    """The parts of a URL that carry credentials: its user information (`user:password`, the
    password, or a lone user name, which is then a token), every query value, and path segments
    that read like tokens. Configured endpoints are URLs an admin wrote, so a query value there is
    a credential, not a search term."""
    if not url:
        return []
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return []
    found: list[str] = []
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        found += [userinfo, unquote(userinfo)] + ([password, unquote(password)] if colon else [user, unquote(user)])
    found += [value for _, value in parse_qsl(parts.query, keep_blank_values=False)]
    found += [unquote(seg) for seg in parts.path.split("/") if _TOKEN_SEGMENT.match(unquote(seg))]
    return [s for s in dict.fromkeys(found) if s]


def secrets_from_env(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of variables whose names say they are secrets (GITHUB_TOKEN, INPUT_GITHUB-TOKEN,
    KF_PIPELINES_TOKEN, KF_PIPELINES_COOKIE, ACTIONS_RUNTIME_TOKEN, ...)."""
    env = os.environ if env is None else env
    return [value for name, value in sorted(env.items())
            if value and SECRET_NAME.search(name) and name.upper() not in NOT_SECRET]


def from_env(env: Mapping[str, str] | None = None, *, extra: Iterable[str | None] = (),
             mask: Callable[[str], None] | None = None) -> Scrubber:
    """A scrubber for everything the environment says is secret, plus `extra` values."""
    return Scrubber([*secrets_from_env(env), *extra], mask=mask)
