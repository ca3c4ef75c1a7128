"""Every exception nmcore raises on purpose, in one tree, so a caller can catch `NmcoreError` and be done.

    NmcoreError
    ├── ConfigError ······················ the configuration cannot be used as given
    │   ├── SchemaError (ValueError) ····· a manifest does not fit its schema (one located line per fault)
    │   ├── FieldProblem (ValueError) ···· a schema class's own check failed for one field (located there)
    │   ├── TemplateProblem ·············· an operator's template cannot work (file, line, why)
    │   ├── PluginError ·················· a plugin or channel cannot be used (a kind claimed twice, no resolver)
    │   └── AccessConfigError ············ a credentials file of nm run cannot be used
    ├── PayloadError (ValueError) ········ a POSTed alert body is unusable as a whole
    ├── BadRequest (ValueError) ·········· a console API request (a Receiver object to verify) is unusable
    ├── DeliveryError ···················· one send failed (raised by channels; `retry_after` may say when to retry)
    │   ├── TransientError ··············· worth retrying: connection trouble, rate limits, 5xx
    │   └── PermanentError ··············· retrying will not help until someone changes the configuration
    ├── NotReady ························· no configuration loaded yet: routing now would lose alerts
    ├── Busy ····························· too much work pending: retry after `retry_after` seconds
    ├── UnknownReceiver (LookupError) ···· no receiver, or more than one, answers to a name
    ├── TenantLookupError ················ a tenant resolver could not say who can access a namespace
    ├── StoreError ······················· the state dir or file, or the database, cannot be used
    │   ├── StoreNotFound ················ no store where `nm deliveries` looked: nm run never used it
    │   └── StoreUnavailable ············· the database cannot be reached now: nothing stored, retry
    └── ApiError ························· the Kubernetes API server answered with a failure Status

Messages are for operators: they say what is wrong, where, and what to do, and never hold a secret.
"""

__all__ = [
    "AccessConfigError",
    "ApiError",
    "BadRequest",
    "Busy",
    "ConfigError",
    "DeliveryError",
    "FieldProblem",
    "NmcoreError",
    "NotReady",
    "PayloadError",
    "PermanentError",
    "PluginError",
    "SchemaError",
    "StoreError",
    "StoreNotFound",
    "StoreUnavailable",
    "TemplateProblem",
    "TenantLookupError",
    "TransientError",
    "UnknownReceiver",
]


class NmcoreError(Exception):
    """The base of every error nmcore raises on purpose."""


class ConfigError(NmcoreError):
    """The configuration (manifests, templates, plugins) cannot be used as given."""


class SchemaError(ConfigError, ValueError):
    """A manifest does not fit its schema; `problems` holds one `message @ $.path` line per fault."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class FieldProblem(ConfigError, ValueError):
    """Raised by a schema class's own checks about one of its fields, so the error path names that field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class TemplateProblem(ConfigError):
    """An operator's template that cannot work: says which file, where and why."""


class PluginError(ConfigError):
    """A plugin or a channel it registers cannot be used (a kind claimed twice, an unknown tenant resolver)."""


class AccessConfigError(ConfigError, ValueError):
    """A credentials file (`--intake-token-file`, `--intake-basic-auth-file`, `--admin-token-file`) is missing,
    unreadable or empty; the message names it."""


class PayloadError(NmcoreError, ValueError):
    """The body as a whole is unusable; the message says where and why."""


class DeliveryError(NmcoreError):
    """A send failed. The message is for operators: say what the server answered and what to do."""

    transient: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(DeliveryError):
    """Worth retrying: connection trouble, rate limits, 5xx (HTTP) or 4xx (SMTP) replies."""

    transient = True


class PermanentError(DeliveryError):
    """Retrying will not help until someone changes the configuration: bad credentials, unknown channel."""


class NotReady(NmcoreError):
    """No configuration has been loaded yet; routing now would lose alerts, so the sender should retry."""


class Busy(NmcoreError):
    """Too much work is pending; the sender should retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class UnknownReceiver(NmcoreError, LookupError):
    """No receiver, or more than one, answers to the name given."""


class TenantLookupError(NmcoreError):
    """The resolver could not answer; routing then delivers to global receivers only, and says so."""


class StoreError(NmcoreError):
    """The store cannot be used; the message names the file or database, the problem and what to do."""


class StoreNotFound(StoreError):
    """There is no store where `nm deliveries` looked: nm run has not used that state dir or database."""


class StoreUnavailable(StoreError):
    """The store cannot be reached right now (a database restarting, a network cut): nothing was stored, retry."""


class ApiError(NmcoreError):
    """The API server answered with a failure Status (or a watch ERROR event)."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"HTTP {status} {reason}: {message}" if message else f"HTTP {status} {reason}")
        self.status = status


class BadRequest(NmcoreError, ValueError):
    """A console API request cannot be used as written; the message says what is wrong and where."""
