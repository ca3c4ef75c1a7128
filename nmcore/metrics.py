"""Prometheus metrics, one registry per manager (several managers in one process stay separate).

Labels are channels, outcomes and reasons, never receiver names with secrets or unbounded values.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.alerts_received = Counter("nmcore_alerts_received", "Alerts accepted at ingest", registry=r)
        self.alerts_rejected = Counter("nmcore_alerts_rejected", "Alerts rejected at ingest (bad shape)", registry=r)
        self.notifications_routed = Counter(
            "nmcore_notifications_routed", "Notifications created by routing", ["channel"], registry=r)
        self.notifications_deduplicated = Counter(
            "nmcore_notifications_deduplicated", "Notifications dropped as duplicates within the window", registry=r)
        self.deliveries = Counter(
            "nmcore_deliveries", "Finished deliveries by outcome", ["channel", "outcome"], registry=r)
        self.attempts = Histogram(
            "nmcore_send_seconds", "Time of one send attempt", ["channel", "result"], registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.pending = Gauge("nmcore_pending_jobs", "Jobs accepted and not yet finished", registry=r)
        self.waiting_in_batches = Gauge(
            "nmcore_jobs_waiting_in_batches", "Pending jobs of this process waiting in their batches (batchMaxWait)",
            registry=r)
        self.config_problems = Gauge("nmcore_config_problems", "Problems in the current configuration", registry=r)
        self.receivers = Gauge("nmcore_receivers", "Receivers able to send, by channel", ["channel"], registry=r)
        self.receivers_skipped = Gauge("nmcore_receivers_skipped", "Receivers that cannot send", registry=r)
        self.tenant_lookup_failures = Counter(
            "nmcore_tenant_lookup_failures", "Namespaces whose users could not be resolved", registry=r)
