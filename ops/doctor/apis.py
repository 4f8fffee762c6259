"""The API checks of ``ops doctor``: each described API's credentials work.

For every API described under ``SLUICE_APIS_DIR``: an OAuth2 API must issue a
token for its client (nothing is asked of the API itself, so no quota is
spent); an API key or bearer token is tried with one request for the first
endpoint's first page. One line per API, never a secret.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from ops.doctor.models import CheckResult
from sluice.errors import SluiceError
from sluice.sources.api.auth import Credentials, Secrets
from sluice.sources.api.pages import first_request
from sluice.sources.api.spec import ApiSpec, AuthStyle, list_apis, load_api

TIMEOUT_S = 5.0


def check_api(spec: ApiSpec, *, secrets: Secrets | None = None, timeout: float = TIMEOUT_S) -> CheckResult:
    """Whether ``spec``'s credentials are accepted (see the module doc)."""
    name, style = f"API {spec.name}", spec.auth.style
    credentials = (
        Credentials(spec.auth, timeout_s=timeout)
        if secrets is None
        else Credentials(spec.auth, secrets, timeout_s=timeout)
    )
    hint = "see runbook credentials-expired: store the current secret in its Prefect Secret block"
    try:
        headers = credentials.headers()
    except SluiceError as exc:
        return CheckResult.fail(name, str(exc).split("\n")[0], exc.hint or hint)
    if style in (AuthStyle.CLIENT_CREDENTIALS, AuthStyle.REFRESH_TOKEN):
        return CheckResult.ok(name, f"the token endpoint issued a token to client {spec.auth.client_id!r}")
    top = next(e for e in spec.endpoints if e.parent is None)
    req = first_request(spec.base_url, top, None)
    try:
        status = httpx.get(req.url, params=req.params or None, headers=headers, timeout=timeout).status_code
    except httpx.HTTPError as exc:
        return CheckResult.fail(name, f"{spec.base_url} did not answer: {type(exc).__name__}", "check base_url")
    if status in (401, 403):
        return CheckResult.fail(name, f"{spec.base_url} refused the {style.value} (HTTP {status})", hint)
    if style is AuthStyle.NONE:
        return CheckResult.ok(name, f"{spec.base_url} answers (HTTP {status}); it takes no credentials")
    return CheckResult.ok(name, f"{spec.base_url} accepted the {style.value} (HTTP {status})")


def check_apis(root: Path, *, secrets: Secrets | None = None) -> list[CheckResult]:
    """Every API described in ``root``; none described: nothing to check."""
    results = []
    for api in list_apis(root):
        try:
            spec = load_api(root / f"{api}.yaml")
        except SluiceError as exc:
            results.append(CheckResult.fail(f"API {api}", str(exc).split("\n")[0], exc.hint))
            continue
        results.append(check_api(spec, secrets=secrets))
    return results
