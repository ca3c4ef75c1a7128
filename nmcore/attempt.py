"""One send to one receiver: the request built from the snapshot, the channel called within its deadline, and
the outcome classified and scrubbed of every credential of the configuration, in every form (the secrets it
used, inline values, URL passwords and query values, base64 of `user:password`), and of every credential its
HTTP requests carried (signatures and tokens derived or obtained from those: `nmcore.redaction.collecting`).
Shared by the dispatcher and `nm verify`."""

import logging
import time

import attrs

from nmcore import hotpath
from nmcore.alerts import Notification
from nmcore.channel import StartedChannel
from nmcore.errors import DeliveryError
from nmcore.redaction import collecting
from nmcore.render import Renderer
from nmcore.requests import build_request
from nmcore.snapshot import Snapshot, Target

log = logging.getLogger(__name__)


@attrs.frozen(kw_only=True)
class SendResult:
    ok: bool
    error: str = ""
    """Why it failed, with every secret value the send used replaced by <redacted>."""
    transient: bool = False
    retry_after: float | None = None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0


async def send_once(channel: StartedChannel, snapshot: Snapshot, target: Target,
                    notification: Notification, renderer: Renderer) -> SendResult:
    """Send `notification` to `target` once, within the channel's time (the NotificationManager's
    `notificationTimeout` for it, when set). A plugin that raises something unexpected is reported as a
    transient failure (and logged as the plugin bug it is), never let through to kill delivery."""
    configured = snapshot.settings.notification_timeouts.get(target.channel)
    timeout = configured or channel.spec.limits.send_timeout
    request, secrets = build_request(snapshot, target, notification, renderer.render(notification, target), timeout)
    hard_deadline = configured or channel.spec.limits.send_timeout * 2  # else the channel's own timeout fires first

    def scrub(text: str) -> str:
        return carried.scrub(snapshot.scrubber.scrub(secrets.scrub(text)))

    started = time.perf_counter()
    with collecting() as carried:  # what the send's requests carry, such as signatures and the tokens it obtains
        try:
            async with hotpath.deadline(hard_deadline):
                report = await channel.sender.send(request)
        except DeliveryError as exc:
            return SendResult(ok=False, error=scrub(str(exc)), transient=exc.transient,
                              retry_after=exc.retry_after, seconds=time.perf_counter() - started)
        except TimeoutError:
            return SendResult(ok=False, error=f"no answer within {hard_deadline:g}s", transient=True,
                              seconds=time.perf_counter() - started)
        except Exception as exc:
            error = scrub(f"{type(exc).__name__}: {exc}")
            log.error("channel %s raised unexpectedly for %s (a plugin bug): %s",
                      notification.channel, notification.receiver, error)
            log.debug("traceback of the plugin bug above", exc_info=True)
            return SendResult(ok=False, error=error, transient=True, seconds=time.perf_counter() - started)
        warnings = tuple(scrub(w) for w in (report.warnings if report else ()))
    return SendResult(ok=True, warnings=warnings, seconds=time.perf_counter() - started)
