"""Token parsing, scope checks and the refusal to serve openly on a public interface."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from leaseq.app.access import AccessConfigError, AccessTokens, Scope, parse_tokens
from leaseq.app.container import secured_access
from leaseq.app.settings import Settings


def test_tokens_parse_into_scopes_and_admin_holds_every_scope():
    grants = parse_tokens("s1:produce,work; s2:admin")
    assert grants == {"s1": {Scope.PRODUCE, Scope.WORK}, "s2": {Scope.ADMIN}}
    assert AccessTokens.allows(grants["s2"], Scope.WORK)
    assert not AccessTokens.allows(grants["s1"], Scope.ADMIN)


@pytest.mark.parametrize("text", ["nocolon", "s:", "s:root", ":admin"])
def test_malformed_token_entries_are_refused(text):
    with pytest.raises(AccessConfigError):
        parse_tokens(text)


def test_a_tokens_file_adds_to_the_env_tokens(tmp_path: Path):
    file = tmp_path / "tokens"
    file.write_text("# operators\nfile-secret:admin\n")
    access = secured_access(Settings(memory=True, tokens="env:work", tokens_file=file))
    assert access.scopes_of("file-secret") == {Scope.ADMIN}
    assert access.scopes_of("env") == {Scope.WORK}
    assert access.scopes_of("other") is None


def test_no_tokens_on_a_public_interface_refuses_to_start():
    with pytest.raises(AccessConfigError, match=r"refusing to serve on 0\.0\.0\.0"):
        secured_access(Settings(memory=True, host="0.0.0.0", tokens=None))


def test_no_tokens_on_loopback_turns_auth_off_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        access = secured_access(Settings(memory=True, host="127.0.0.1", tokens=None))
    assert not access.enabled
    assert "AUTHENTICATION IS OFF" in caplog.text
