"""The SDK's defaults are the service's: a task enqueued without options behaves the same
whichever transport carried it."""

from __future__ import annotations

import attrs

from leaseq.domain import RetryPolicy
from leaseq.sdk.types import RetrySettings


def test_the_sdk_retry_defaults_are_the_domain_retry_policy_defaults() -> None:
    assert attrs.asdict(RetrySettings()) == RetryPolicy().to_json()
