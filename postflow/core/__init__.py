"""The kernel every service shares: config, logs, telemetry, gRPC plumbing, errors, the service lifecycle."""
