"""E-mail sender: plain text with an HTML alternative over SMTP (optional STARTTLS and login), retried."""

from __future__ import annotations

import logging
import smtplib
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Callable

from freshgate.config import NotifySettings
from freshgate.notify.webhook import SendError

log = logging.getLogger(__name__)


def build(cfg: NotifySettings, to: list[str], subject: str, text: str, html: str | None,
          message_id: str | None = None) -> EmailMessage:
    """The MIME message: text/plain first, text/html as the alternative."""
    msg = EmailMessage()
    msg["From"] = cfg.smtp_from
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id or make_msgid(domain="freshgate")
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


def send(cfg: NotifySettings, to: list[str], subject: str, text: str, html: str | None = None, *,
         message_id: str | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    """Send one e-mail; retry connection and temporary (4xx) SMTP errors. Returns tries used, raises SendError."""
    if not cfg.smtp_host:
        raise SendError("no SMTP host configured")
    msg = build(cfg, to, subject, text, html, message_id)
    last = ""
    for attempt in range(cfg.retries + 1):
        if attempt:
            sleep(cfg.backoff * 2 ** (attempt - 1))
        try:
            with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout) as smtp:
                if cfg.smtp_starttls:
                    smtp.starttls()
                if cfg.smtp_username:
                    smtp.login(cfg.smtp_username, cfg.smtp_password or "")
                smtp.send_message(msg)
            return attempt + 1
        except smtplib.SMTPResponseException as exc:
            last = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            if not 400 <= exc.smtp_code < 500:  # permanent (5xx): retrying will not help
                break
        except (OSError, smtplib.SMTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
        log.warning("e-mail try %d to %s failed: %s", attempt + 1, to, last)
    raise SendError(f"e-mail failed after {attempt + 1} tries: {last}")
