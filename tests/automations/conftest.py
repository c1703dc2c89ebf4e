"""Automation tests share the email tests' local SMTP server (aiosmtpd) and mail settings."""

from tests.email.conftest import mail_config, smtp, smtp_server  # noqa: F401
