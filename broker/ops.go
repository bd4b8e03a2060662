package broker

// The broker's operability state: named loggers with runtime levels,
// metrics, client quotas and the HTTP admin listener. Kept in one field of
// Broker (ops) so the core files carry only the calls that wire it in.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/observe"
	"github.com/potok-io/potok/quota"
	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Logger names, as DescribeConfigs lists them for BROKER_LOGGER.
const (
	loggerBroker   = "potok.broker"
	loggerProtocol = "potok.protocol"
	loggerLogstore = "potok.logstore"
	loggerHTTP     = "potok.http"
)

type opsState struct {
	// features are the feature levels this broker supports
	// (updatefeatures.go); a field so tests can add one.
	features map[string]featureRange
	levels   *observe.Levels
	quotas   *quota.Manager
	metrics  *observe.Metrics
	http     *observe.HTTPServer // nil unless potok.http.listener is set
	ready    atomic.Bool         // serving clients: between Start and Shutdown
	// handler is where every named logger writes.
	handler slog.Handler
}

// initOps sets up the loggers and quotas, before anything logs.
func (b *Broker) initOps() {
	b.ops.features = supportedFeatures()
	b.ops.levels = b.opts.Levels
	if b.ops.levels == nil {
		// Without levels from the caller, the caller's handler filters:
		// the root passes everything on to it.
		b.ops.levels = observe.NewLevels(slog.LevelDebug - 4)
	}
	b.ops.handler = b.opts.Logger.Handler()
	b.log = b.logger(loggerBroker)
	b.ops.quotas = quota.New(quota.Config{
		Samples: int(b.src.BrokerInt("quota.window.num")),
		Window:  time.Duration(b.src.BrokerInt("quota.window.size.seconds")) * time.Second,
	})
}

// logger returns the named logger.
func (b *Broker) logger(name string) *slog.Logger {
	return b.ops.levels.Logger(b.ops.handler, name)
}

// openOps is called once the settings are checked and the metadata log is
// open: metrics get their listeners and collectors, quotas and topic
// metrics follow the image.
func (b *Broker) openOps() {
	keys := make([]int16, len(b.apis.list))
	for i, a := range b.apis.list {
		keys[i] = a.key
	}
	names := make([]string, len(b.listeners))
	for i, l := range b.listeners {
		names[i] = l.Name
	}
	b.ops.metrics = observe.NewMetrics(keys, names)
	b.ops.metrics.Registry().MustRegister(&stateCollector{b: b})

	b.ops.quotas.SetQuotas(b.ctrl.Image().AllClientQuotas())
	b.ctrl.Subscribe(func(old, next *metadata.Image) {
		b.ops.quotas.SetQuotas(next.AllClientQuotas())
		for _, name := range old.TopicNames() {
			if _, ok := next.Topic(name); !ok {
				b.ops.metrics.DropTopic(name)
			}
		}
	})
}

// startHTTP starts the admin listener when potok.http.listener is set.
func (b *Broker) startHTTP() error {
	addr := b.src.BrokerString("potok.http.listener")
	if addr == "" {
		return nil
	}
	s, err := observe.ListenHTTP(observe.HTTPOptions{
		Addr:    addr,
		Metrics: b.ops.metrics,
		Levels:  b.ops.levels,
		Ready:   b.readiness,
		Logger:  b.logger(loggerHTTP),
	})
	if err != nil {
		return err
	}
	b.ops.http = s
	return nil
}

// readiness is /readyz: the broker serves clients once Start has bound its
// listeners and registered, until Shutdown begins.
func (b *Broker) readiness() error {
	if !b.ops.ready.Load() {
		if b.closed.Load() {
			return errors.New("shutting down")
		}
		return errors.New("starting")
	}
	return nil
}

// stopHTTP closes the admin listener, last, so /readyz reports the
// shutdown while it lasts.
func (b *Broker) stopHTTP(ctx context.Context) error {
	if b.ops.http == nil {
		return nil
	}
	return b.ops.http.Close(ctx)
}

// HTTPAddr returns the bound address of the HTTP admin listener, nil when
// it is off.
func (b *Broker) HTTPAddr() net.Addr {
	if b.ops.http == nil {
		return nil
	}
	return b.ops.http.Addr()
}

// topicMetrics returns a topic's counters, cached on the topic.
func (b *Broker) topicMetrics(ts *topicState) *observe.TopicMetrics {
	if m := ts.stats.Load(); m != nil {
		return m
	}
	m := b.ops.metrics.Topic(ts.name)
	ts.stats.Store(m)
	return m
}

// countProduced counts one appended batch.
func (b *Broker) countProduced(ts *topicState, batch []byte) {
	m := b.topicMetrics(ts)
	m.BytesIn.Add(float64(len(batch)))
	m.RecordsIn.Add(float64(records.Batch(batch).NumRecords()))
}

// countFetched counts the record bytes and records of a fetch response
// about to be sent.
func (b *Broker) countFetched(resp []kmsg.FetchResponseTopic) {
	for i := range resp {
		t := &resp[i]
		var ts *topicState
		if t.Topic != "" {
			ts = b.topic(t.Topic)
		} else {
			ts = b.topicByID(metadata.Uuid(t.TopicID))
		}
		if ts == nil {
			continue
		}
		var bytes, recs int64
		for j := range t.Partitions {
			data := t.Partitions[j].RecordBatches
			bytes += int64(len(data))
			for len(data) > 0 {
				batch, rest, err := records.Next(data)
				if err != nil {
					break // a trailing partial batch
				}
				recs += int64(batch.NumRecords())
				data = rest
			}
		}
		if bytes > 0 {
			m := b.topicMetrics(ts)
			m.BytesOut.Add(float64(bytes))
			m.RecordsOut.Add(float64(recs))
		}
	}
}
