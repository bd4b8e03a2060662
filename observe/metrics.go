package observe

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metrics is one broker's Prometheus registry and the instruments the
// request path updates. Names follow Prometheus conventions under potok_.
type Metrics struct {
	reg *prometheus.Registry

	// requests holds one histogram per served API key, resolved up
	// front so that observing a request is an array index and an atomic
	// add.
	requests [maxKey + 1]prometheus.Observer

	connsOpened *prometheus.CounterVec
	connsOpen   *prometheus.GaugeVec
	listeners   map[string]listenerMetrics // fixed once the listeners are known

	bytesIn, bytesOut, recordsIn, recordsOut *prometheus.CounterVec
	topics                                   sync.Map // topic name -> *TopicMetrics

	throttle [3]prometheus.Counter

	fsyncOnce sync.Once
	fsync     prometheus.Histogram
}

// maxKey bounds the API keys Kafka defines.
const maxKey = 127

type listenerMetrics struct {
	opened prometheus.Counter
	open   prometheus.Gauge
}

// TopicMetrics are the per-topic counters, held by the broker's topic so
// that the produce and fetch paths update them without a lookup.
type TopicMetrics struct {
	BytesIn, BytesOut, RecordsIn, RecordsOut prometheus.Counter
}

// NewMetrics returns a registry with the Go runtime and process collectors
// and the broker's own instruments, histograms for the given API keys and
// connection gauges for the given listener names.
func NewMetrics(apiKeys []int16, listeners []string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), listeners: map[string]listenerMetrics{}}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	reqs := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "potok_request_duration_seconds",
		Help: "Time from reading a request to writing its response, per Kafka API; the count is the request rate.",
		// 50µs to ~26s: a metadata request and a long-polling fetch.
		Buckets: prometheus.ExponentialBuckets(0.00005, 2.5, 15),
	}, []string{"api"})
	m.reg.MustRegister(reqs)
	for _, k := range apiKeys {
		if k >= 0 && k <= maxKey {
			m.requests[k] = reqs.WithLabelValues(kmsg.NameForKey(k))
		}
	}

	m.connsOpened = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "potok_connections_opened_total", Help: "Client connections accepted, per listener.",
	}, []string{"listener"})
	m.connsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "potok_connections", Help: "Client connections open now, per listener.",
	}, []string{"listener"})
	m.reg.MustRegister(m.connsOpened, m.connsOpen)
	for _, l := range listeners {
		m.listeners[l] = listenerMetrics{opened: m.connsOpened.WithLabelValues(l), open: m.connsOpen.WithLabelValues(l)}
	}

	counter := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"topic"})
		m.reg.MustRegister(c)
		return c
	}
	m.bytesIn = counter("potok_topic_bytes_in_total", "Record batch bytes appended by producers, per topic.")
	m.bytesOut = counter("potok_topic_bytes_out_total", "Record batch bytes sent to consumers, per topic.")
	m.recordsIn = counter("potok_topic_records_in_total", "Records appended by producers, per topic.")
	m.recordsOut = counter("potok_topic_records_out_total", "Records sent to consumers, per topic (whole batches, as sent).")

	throttle := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "potok_quota_throttle_seconds_total",
		Help: "Throttle time given to clients over their quotas, per quota (KIP-219).",
	}, []string{"quota"})
	m.reg.MustRegister(throttle)
	for i, q := range []string{"produce", "fetch", "request"} {
		m.throttle[i] = throttle.WithLabelValues(q)
	}
	return m
}

// Registry is where collectors are registered and what /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RequestDone records one answered request (protocol.Observer).
func (m *Metrics) RequestDone(key int16, elapsed time.Duration) {
	if key >= 0 && key <= maxKey {
		if h := m.requests[key]; h != nil {
			h.Observe(elapsed.Seconds())
		}
	}
}

// ConnOpened records an accepted connection (protocol.Observer).
func (m *Metrics) ConnOpened(listener string) {
	if l, ok := m.listeners[listener]; ok {
		l.opened.Inc()
		l.open.Inc()
	}
}

// ConnClosed records a closed connection (protocol.Observer).
func (m *Metrics) ConnClosed(listener string) {
	if l, ok := m.listeners[listener]; ok {
		l.open.Dec()
	}
}

// Topic returns a topic's counters, creating them on first use.
func (m *Metrics) Topic(name string) *TopicMetrics {
	if v, ok := m.topics.Load(name); ok {
		return v.(*TopicMetrics)
	}
	tm := &TopicMetrics{
		BytesIn: m.bytesIn.WithLabelValues(name), BytesOut: m.bytesOut.WithLabelValues(name),
		RecordsIn: m.recordsIn.WithLabelValues(name), RecordsOut: m.recordsOut.WithLabelValues(name),
	}
	v, _ := m.topics.LoadOrStore(name, tm)
	return v.(*TopicMetrics)
}

// DropTopic removes a deleted topic's series.
func (m *Metrics) DropTopic(name string) {
	m.topics.Delete(name)
	for _, c := range []*prometheus.CounterVec{m.bytesIn, m.bytesOut, m.recordsIn, m.recordsOut} {
		c.DeleteLabelValues(name)
	}
}

// Throttled adds throttle time given for quota kind k (0 produce, 1 fetch,
// 2 request, as quota.Kind).
func (m *Metrics) Throttled(k int, d time.Duration) {
	if k >= 0 && k < len(m.throttle) {
		m.throttle[k].Add(d.Seconds())
	}
}

// ObserveFsync records the latency of one fdatasync of a partition log. The
// histogram appears on the first observation, so a broker whose log store
// reports none does not expose an empty one.
func (m *Metrics) ObserveFsync(d time.Duration) {
	m.fsyncOnce.Do(func() {
		m.fsync = prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "potok_log_fsync_duration_seconds",
			Help:    "Latency of fdatasync on partition logs (group-committed across producers).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		})
		m.reg.MustRegister(m.fsync)
	})
	m.fsync.Observe(d.Seconds())
}
