"""The ``access`` section: policy files, the access audit table and the OIDC issuer whose ID tokens name readers."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sluice.settings.sources import PREFIX, Section

# Asymmetric signature algorithms only: an HMAC algorithm would let anyone holding the issuer's
# public key forge tokens, and ``none`` is no signature at all.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def _ensure_asymmetric(value: list[str]) -> list[str]:
    refused = [alg for alg in value if alg not in ALLOWED_ALGORITHMS]
    if refused or not value:
        raise ValueError(
            f"{refused or 'an empty list'} not allowed: use asymmetric algorithms among {sorted(ALLOWED_ALGORITHMS)}"
        )
    return value


class TrustedIssuer(BaseModel):
    """One more OIDC issuer whose ID tokens are accepted; a field left out takes the section's value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1, max_length=512)
    audience: str = Field(min_length=1, max_length=512)
    algorithms: list[str] | None = None
    jwks_uri: str | None = None
    subject_claim: str | None = None
    roles_claims: list[str] | None = None
    department_claim: str | None = None
    region_claim: str | None = None
    clearance_claim: str | None = None

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _ensure_asymmetric(value)


class AccessSettings(Section):
    """Governed reads, read by :mod:`sluice.access`."""

    env_prefix = f"{PREFIX}ACCESS_"
    title = "Governed reads and the access audit"

    policies_dir: Path | None = Field(
        default=None,
        description=(
            "Folder of the access policies, one `<dataset>.yaml` per dataset (default: the policies shipped in "
            "`sluice/policies`). A dataset without a policy cannot be read through `ops lake query`."
        ),
    )
    audit_uri: str | None = Field(
        default=None,
        description="The append-only Delta table of the access audit (default: `$SLUICE_HOME/audit/access`).",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description=(
            "Issuer URL of the OIDC provider whose ID tokens identify readers (Okta: `https://<org>.okta.com/"
            "oauth2/default`; Azure AD: `https://login.microsoftonline.com/<tenant>/v2.0`). Its "
            "`/.well-known/openid-configuration` names the JWKS that verifies them."
        ),
    )
    oidc_audience: str | None = Field(
        default=None, description="The audience (`aud`) ID tokens must carry: the client id of Sluice's app."
    )
    oidc_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256"],
        description="Signature algorithms accepted, as JSON; asymmetric ones only (`RS*`, `PS*`, `ES*`, `EdDSA`).",
    )
    oidc_jwks_uri: str | None = Field(
        default=None, description="The JWKS URL, when it should not be read from the issuer's discovery document."
    )
    oidc_trusted_issuers: list[TrustedIssuer] = Field(
        default_factory=list,
        description=(
            'More issuers whose ID tokens are accepted, as JSON, e.g. `[{"issuer": "https://login.microsoftonline'
            '.com/<tenant>/v2.0", "audience": "<client id>", "subject_claim": "oid", "roles_claims": '
            '["roles"]}]`. A token is verified by the issuer its `iss` names; `algorithms`, `jwks_uri` and the '
            "claim names left out take the values above."
        ),
    )
    oidc_leeway_seconds: float = Field(
        default=30.0, ge=0, le=300, description="Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds."
    )
    subject_claim: str = Field(
        default="sub", description="The claim naming the reader in the audit (Azure AD: `oid` is stable per tenant)."
    )
    roles_claims: list[str] = Field(
        default_factory=lambda: ["roles", "groups"],
        description="Claims whose values are the reader's roles, as JSON (Okta: `groups`; Azure AD: `roles`).",
    )
    department_claim: str = Field(default="department", description="The claim holding the reader's department.")
    region_claim: str = Field(default="region", description="The claim holding the reader's region.")
    clearance_claim: str = Field(
        default="clearance",
        description="The claim holding the reader's clearance: `public`, `internal`, `confidential` or `restricted`.",
    )

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        return _ensure_asymmetric(value)

    def issuers(self) -> list[AccessSettings]:
        """The settings of each trusted issuer: the one above (when set), then each of ``oidc_trusted_issuers``.

        Each is a copy of this section with that issuer's fields in place, so a verifier reads one issuer.
        """
        found = [self] if self.oidc_issuer else []
        for extra in self.oidc_trusted_issuers:
            update: dict[str, object] = {"oidc_issuer": extra.issuer, "oidc_audience": extra.audience}
            update["oidc_jwks_uri"] = extra.jwks_uri
            if extra.algorithms is not None:
                update["oidc_algorithms"] = extra.algorithms
            for name in ("subject_claim", "roles_claims", "department_claim", "region_claim", "clearance_claim"):
                if getattr(extra, name) is not None:
                    update[name] = getattr(extra, name)
            found.append(self.model_copy(update={**update, "oidc_trusted_issuers": []}))
        return found

    def policies_root(self) -> Path:
        return self.policies_dir or Path(__file__).parents[1] / "policies"
