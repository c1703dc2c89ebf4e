"""The email tests' SMTP fixtures, for the send job's tests here."""

from tests.email.conftest import mail_config, smtp, smtp_server  # noqa: F401
