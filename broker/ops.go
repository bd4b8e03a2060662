package broker

// The broker's operability state: named loggers with runtime levels,
// metrics, client quotas and the HTTP admin listener. Kept in one field of
// Broker (ops) so the core files carry only the calls that wire it in.

import (
	"log/slog"
	"time"

	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/observe"
	"github.com/potok-io/potok/quota"
)

// Logger names, as DescribeConfigs lists them for BROKER_LOGGER.
const (
	loggerBroker   = "potok.broker"
	loggerProtocol = "potok.protocol"
	loggerLogstore = "potok.logstore"
)

type opsState struct {
	// features are the feature levels this broker supports
	// (updatefeatures.go); a field so tests can add one.
	features map[string]featureRange
	levels   *observe.Levels
	quotas   *quota.Manager
	// handler is where every named logger writes.
	handler slog.Handler
}

// initOps sets up the loggers, before anything logs.
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

// metadataOpened is called once the metadata log is open: the quotas
// follow the image from then on.
func (b *Broker) metadataOpened() {
	b.ops.quotas.SetQuotas(b.ctrl.Image().AllClientQuotas())
	b.ctrl.Subscribe(func(_, next *metadata.Image) {
		b.ops.quotas.SetQuotas(next.AllClientQuotas())
	})
}

// logger returns the named logger.
func (b *Broker) logger(name string) *slog.Logger {
	return b.ops.levels.Logger(b.ops.handler, name)
}
