//! Shared pieces of the charm-tracing benchmarks.
