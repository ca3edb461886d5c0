"""Seeing inside a running Freshgate: health, Prometheus metrics, OpenTelemetry traces, logs."""
