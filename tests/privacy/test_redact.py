"""Redaction of secrets in configs, overrides, texts, log lines, and DVC's params.yaml."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from socialcrm.config import compose, load_params
from socialcrm.redact import (
    REDACTED,
    RedactingFilter,
    install_log_redaction,
    is_secret_key,
    redact,
    redact_override,
    redact_uri,
    redacted_container,
    scrub,
    secret_values,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "key",
    ["data.salt", "salt", "task.salt", "api_key", "x.apiKey", "mlflow_token", "db.password",
     "aws_secret", "credentials", "service.private_key", "x.auth"],
)  # fmt: skip
def test_secret_names(key):
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["data.name", "saltiness", "tokenizer", "listening.max_tokens", "author", "passage", "seed"],
)
def test_ordinary_names(key):
    assert not is_secret_key(key)


def test_marked_keys_by_name_or_path():
    assert is_secret_key("report.webhook", extra=["webhook"])
    assert is_secret_key("report.webhook", extra=["report.webhook"])
    assert not is_secret_key("other.webhook", extra=["report.webhook"])


def test_redact_replaces_secret_values_and_scrubs_other_strings():
    cfg = {
        "data": {"salt": "s3cret-salt", "name": "own", "raw_dir": "/x/s3cret-salt/y"},
        "task": {"salt": None, "list": ["a", "s3cret-salt"]},
        "tracking": {"tracking_uri": "https://alice:pw123456@mlflow.example.org/x"},
    }
    out = redact(cfg, values=secret_values(cfg, environ={}))
    assert out["data"]["salt"] == REDACTED
    assert out["data"]["raw_dir"] == f"/x/{REDACTED}/y"
    assert out["task"] == {"salt": None, "list": ["a", REDACTED]}  # unset stays visible
    assert out["tracking"]["tracking_uri"] == f"https://{REDACTED}@mlflow.example.org/x"
    assert cfg["data"]["salt"] == "s3cret-salt"  # the input is not changed


def test_secret_values_from_config_env_and_uris():
    cfg = {"a": {"token": "tok-123456"}, "uri": "http://bob:hunter22@h/"}
    env = {"SOCIALCRM_SALT": "env-salt-value", "HOME": "/root"}
    assert secret_values(cfg, environ=env) == {"tok-123456", "bob:hunter22", "env-salt-value"}


def test_scrub_cuts_longer_secrets_first_and_ignores_tiny_values():
    assert scrub("key=abcdef and abcd", ["abcd", "abcdef"]) == f"key={REDACTED} and {REDACTED}"
    assert scrub("a b c", ["a"]) == "a b c"
    assert redact_uri("postgresql://u:p@db:5432/x") == f"postgresql://{REDACTED}@db:5432/x"
    assert redact_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_overrides_are_redacted_by_key_and_by_value():
    assert redact_override("data.salt=abc") == f"data.salt={REDACTED}"
    assert redact_override("+task.token=abc") == f"+task.token={REDACTED}"
    assert redact_override("data.raw_dir=/p/longsecret", values=["longsecret"]) == (
        f"data.raw_dir=/p/{REDACTED}"
    )
    assert redact_override("model=logreg") == "model=logreg"


def test_the_composed_config_redacts_the_salt_from_env_and_from_overrides(monkeypatch):
    monkeypatch.setenv("SOCIALCRM_SALT", "from-the-environment")
    cfg = compose([])
    assert cfg.data.salt == "from-the-environment"  # ${secret:} resolves at run time
    plain = redacted_container(cfg)
    assert plain["data"]["salt"] == plain["task"]["salt"] == REDACTED
    assert "from-the-environment" not in OmegaConf.to_yaml(OmegaConf.create(plain))
    cfg = compose(["data=own", "data.salt=from-an-override", "secret_keys=[report.output_dir]"])
    plain = redacted_container(cfg)
    assert plain["data"]["salt"] == REDACTED and plain["report"]["output_dir"] == REDACTED


def test_log_lines_are_scrubbed(tmp_path):
    logger = logging.getLogger("socialcrm.test_redact")
    logger.propagate = False
    handler = logging.FileHandler(tmp_path / "run.log")
    logger.addHandler(handler)
    try:
        install_log_redaction(["value-of-the-salt"], logger)
        install_log_redaction(["second-secret"], logger)  # adds to the same filter
        logger.warning("salt is %s, token %s", "value-of-the-salt", "second-secret")
        handler.flush()
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = (tmp_path / "run.log").read_text()
    assert text.strip() == f"salt is {REDACTED}, token {REDACTED}"
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1


def test_dvc_composition_keeps_a_reference_not_the_salt(tmp_path):
    """What `dvc exp run` composes into params.yaml, with $SOCIALCRM_SALT set, holds
    ``${secret:SOCIALCRM_SALT,...}``; the stages resolve it from their environment."""
    salt = "dvc-composition-salt-9f8e7d"
    script = (
        "import sys; from dvc.utils.hydra import compose_and_dump; "
        "compose_and_dump(sys.argv[1], sys.argv[2] + '/conf', None, 'config', sys.argv[2], [])"
    )
    out = tmp_path / "params.yaml"
    env = {**os.environ, "SOCIALCRM_SALT": salt}
    env.pop("SOCIALCRM_ROOT", None)
    done = subprocess.run(
        [sys.executable, "-c", script, str(out), str(ROOT)], env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert salt not in text
    assert "salt: ${secret:SOCIALCRM_SALT,synthetic-demo-salt}" in text
    os.environ["SOCIALCRM_SALT"] = salt
    try:
        assert load_params(out).data.salt == salt
    finally:
        del os.environ["SOCIALCRM_SALT"]
    assert load_params(out).data.salt == "synthetic-demo-salt"


def test_a_params_file_with_a_salt_in_clear_is_refused(tmp_path):
    text = (ROOT / "params.yaml").read_text()
    bad = tmp_path / "params.yaml"
    bad.write_text(
        text.replace("salt: ${secret:SOCIALCRM_SALT,synthetic-demo-salt}", "salt: in-clear", 1)
    )
    with pytest.raises(ValueError, match=r"secret in clear \(data.salt\)"):
        load_params(bad)


def test_error_messages_never_quote_the_salt(tmp_path):
    """A path that happens to contain the salt is named in the error, with the salt cut out."""
    from typer.testing import CliRunner

    from socialcrm.cli import app

    salt = "error-message-salt-5c4b3a"
    missing = tmp_path / f"exports-{salt}"
    result = CliRunner().invoke(
        app,
        ["validate", "data=own", f"data.raw_dir={missing}", f"data.salt={salt}",
         f"paths.root_dir={tmp_path}"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "exports-" in result.output and REDACTED in result.output
    assert salt not in result.output and salt[:12] not in result.output
