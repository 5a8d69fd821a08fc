"""How an S3 store finds its endpoint, region and credentials: the AWS SDK's own rules.

botocore resolves the credentials exactly as the AWS CLI does (environment variables, web
identity, SSO, ``role_arn`` with a source profile, ``credential_process``, the shared files,
containers, the instance metadata service), for the profile that ``AWS_PROFILE`` names; obstore
asks it again whenever the credentials it holds expire. deltaset's own settings come first for
the endpoint and region, then the AWS variables, then the profile.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from deltaset.errors import InvalidInputError, StorageError

# How long obstore keeps one answer: botocore refreshes temporary credentials at least ten
# minutes before they expire, so an answer kept for less than that is never stale.
CREDENTIALS_TTL = timedelta(minutes=5)
DEFAULT_REGION = "us-east-1"


def s3_config(endpoint: str | None, region: str | None) -> dict[str, Any]:
    """The keyword arguments of obstore's ``S3Store`` for the AWS settings of this machine;
    ``endpoint`` and ``region`` are deltaset's own settings, if any."""
    session = _session()
    scoped = session.get_scoped_config()
    endpoint = (
        endpoint
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or _profile_endpoint(scoped)
    )
    config: dict[str, Any] = {
        "region": region
        or os.environ.get("AWS_REGION")
        or session.get_config_variable("region")
        or DEFAULT_REGION,
        "credential_provider": _credential_provider(session),
    }
    if endpoint:
        config["endpoint"] = endpoint
        if endpoint.startswith("http://"):
            config["client_options"] = {"allow_http": True}
    return config


def _session() -> Any:
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session()
        session.get_scoped_config()  # reads the files: a missing profile is said here
    except botocore.exceptions.ProfileNotFound as exc:
        raise InvalidInputError(
            f"No AWS profile {exc.kwargs['profile']!r} in the AWS config."
        ) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise InvalidInputError(f"Cannot read the AWS settings: {_sentence(exc)}") from exc
    return session


def _profile_endpoint(scoped: dict[str, Any]) -> str | None:
    """The profile's ``endpoint_url``, for S3 (its ``s3`` sub-section) or for every service."""
    nested = scoped.get("s3")
    if isinstance(nested, dict) and nested.get("endpoint_url"):
        return str(nested["endpoint_url"])
    found = scoped.get("endpoint_url")
    return str(found) if found else None


def _credential_provider(session: Any) -> Any:
    import botocore.exceptions
    from obstore.auth.boto3 import Boto3CredentialProvider

    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        raise StorageError(f"Cannot get the AWS credentials: {_sentence(exc)}") from exc
    if credentials is None:
        raise InvalidInputError(
            "No AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a "
            "profile in ~/.aws/config or ~/.aws/credentials (AWS_PROFILE names it; "
            "'aws sso login' or 'aws configure' makes one)."
        )
    return Boto3CredentialProvider(session, ttl=CREDENTIALS_TTL)


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__).rstrip(".") + "."
