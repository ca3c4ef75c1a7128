"""One notification as one MIME message: multipart/alternative, plain text and HTML.

Headers are set only through the `email` API, which encodes non-ASCII text (RFC 2047) and refuses line
breaks, so a label value can never add a header. The policy keeps the whole message 7-bit (bodies
quoted-printable or base64), so it passes any server, with or without 8BITMIME.
"""

import email.policy
import email.utils
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage

from nmcore.sdk import Rendered

POLICY = email.policy.SMTP.clone(cte_type="7bit")


def one_line(text: str) -> str:
    """The core already gives a single-line subject; collapse whitespace again so no caller can break it."""
    return " ".join(text.split())


def compose(sender: Address, recipients: Sequence[Address], rendered: Rendered) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = tuple(recipients)
    message["Subject"] = one_line(rendered.subject)
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(domain=sender.domain)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
