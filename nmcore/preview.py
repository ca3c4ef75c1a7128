"""`nm render`: a receiver's message for a payload (or the built-in sample), in every format it is sent in, as
`amtool template render` shows Alertmanager's: edit a template, see the result, without sending anything."""

from collections.abc import Iterator

import attrs

from nmcore.alerts import AlertGroup, Notification
from nmcore.render import SAMPLE, DefaultRenderer
from nmcore.snapshot import Snapshot, Target
from nmcore.templatechoice import FORMATS


@attrs.frozen
class Preview:
    receiver: str
    channel: str
    language: str
    parts: tuple[tuple[str, str, str], ...]
    """(format, template name, rendered text) in the order the channel uses them."""
    problems: tuple[str, ...]

    def lines(self) -> Iterator[str]:
        yield f"# {self.receiver} ({self.channel}, {self.language})"
        for problem in self.problems:
            yield f"# problem: {problem}"
        if not self.parts:
            yield "# no template: this channel sends the alerts as data (e.g. the Alertmanager webhook JSON)"
        for fmt, name, text in self.parts:
            yield f"== {fmt}  ({name})"
            yield text.rstrip("\n")


def notification_for(target: Target, group: AlertGroup | None) -> Notification:
    """What `target` would be sent for `group` (every alert in it, unrouted), or the sample."""
    if group is None:
        return attrs.evolve(SAMPLE, receiver=target.receiver.ref, channel=target.channel, tenant=target.tenant)
    return Notification(receiver=target.receiver.ref, channel=target.channel, tenant=target.tenant,
                        alerts=group.alerts, group_labels=group.group_labels, external_url=group.external_url,
                        group_key=group.group_key)


def preview(renderer: DefaultRenderer, snapshot: Snapshot, target: Target, group: AlertGroup | None,
            formats: tuple[str, ...] = ()) -> Preview:
    """The receiver's message in `formats` (default: those its channel sends it in)."""
    notification = notification_for(target, group)
    rendered = renderer.render(notification, target)
    if not formats:
        channel = snapshot.channels.get(target.channel)
        formats = channel.spec.formats(target.receiver.spec) if channel is not None else FORMATS
    parts = tuple((fmt, rendered.template_names[fmt], rendered.format(fmt)) for fmt in formats)
    return Preview(target.receiver.ref, target.channel, rendered.language, parts,
                   tuple(renderer.receiver_status(target.receiver.ref)))
