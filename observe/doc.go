// Package observe is what an operator sees of a running broker besides the
// Kafka protocol: Prometheus metrics, the HTTP admin listener (/metrics,
// /healthz, /readyz, /loggers) and log levels that change at runtime.
//
// It sits beside the broker, not above it: the broker feeds it (counters
// it keeps handles to, collectors it registers), the protocol layer calls
// its request observer, and nothing here imports either.
//
// # Cost on the hot path
//
// Per-request and per-append instrumentation never allocates and never
// takes a shared lock: every counter or histogram a request touches is
// resolved once (per API key when the server starts, per topic when the
// topic is first seen) and updated with atomic operations. Gauges that
// describe state (log sizes, segment counts, connections) are computed when
// Prometheus scrapes, not maintained on every write.
package observe
