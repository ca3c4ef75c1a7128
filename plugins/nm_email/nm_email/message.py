"""One notification as one MIME message: multipart/alternative (plain text and HTML), or plain text only.

Headers are set only through the `email` API, which encodes non-ASCII text (RFC 2047) and refuses line
breaks, so a label value can never add a header. The policy keeps the whole message 7-bit (bodies
quoted-printable or base64), so it passes any server, with or without 8BITMIME.

The Subject is folded here rather than by the policy: the standard library's folder can break the line right
after `Subject:` or double a space next to an encoded word, and mail clients then show a subject that starts
with a space or differs from what was rendered. `Subject` is given as a header the policy writes as is.
"""

import base64
import email.policy
import email.utils
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage

from nmcore.sdk import Rendered

POLICY = email.policy.SMTP.clone(cte_type="7bit")
LINE = 78
"""RFC 5322's recommended line length, `Subject: ` included."""
ENCODED_WORD_BYTES = 42
"""UTF-8 bytes per RFC 2047 encoded word: base64 of 42 bytes is 56 characters, 68 with `=?utf-8?b?` and `?=`
(RFC 2047 allows 75), so even the first line, after `Subject: `, stays within 78."""


def one_line(text: str) -> str:
    """The core already gives a single-line subject; collapse whitespace again so no caller can break it."""
    return " ".join(text.split())


def fold_subject(subject: str, linesep: str = "\r\n") -> str:
    """The value of a Subject header, folded so that unfolding (RFC 5322: remove each CRLF) gives `subject` back.

    ASCII is folded at its own spaces, never before the first word. Anything else (and ASCII that a decoder
    would take for an encoded word, `=?`) becomes a run of UTF-8 encoded words, one per line, whose whitespace
    between them decoders drop (RFC 2047 §6.2): the text reads back exactly.
    """
    if subject.isascii() and "=?" not in subject:
        lines = [""]
        room = LINE - len("Subject: ")
        for word in subject.split(" "):
            if lines[-1] and len(lines[-1]) + 1 + len(word) > room:
                lines.append(word)
                room = LINE - 1
            else:
                lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
        return f"{linesep} ".join(lines)
    words, chunk = [], b""
    for char in subject:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > ENCODED_WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return f"{linesep} ".join(f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


class _Subject(str):
    """A Subject header the policy writes as folded here (a header object: the policy calls its `fold`)."""

    name = "Subject"

    def fold(self, *, policy: email.policy.Policy) -> str:
        return f"Subject: {fold_subject(str(self), policy.linesep)}{policy.linesep}"


def compose(sender: Address, recipients: Sequence[Address], rendered: Rendered, *, html: bool = True) -> EmailMessage:
    """The message; `html=False` (a receiver with `tmplType: text`) sends the plain text alone."""
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = tuple(recipients)
    message["Subject"] = _Subject(one_line(rendered.subject))
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(domain=sender.domain)
    message.set_content(rendered.text)
    if html:
        message.add_alternative(rendered.html, subtype="html")
    return message
