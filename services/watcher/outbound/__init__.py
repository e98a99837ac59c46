"""Webhooks and notifications: every job event and service alert written to the outbox
first, then sent at least once (services.watcher.outbound.dispatcher)."""
