"""Operations: process heartbeats, health and readiness probes, metrics, run outcome events, the queue view."""
