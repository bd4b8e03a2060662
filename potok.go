// Package potok starts a Kafka-compatible broker inside a Go program or
// test.
//
//	b, err := potok.Start(ctx, potok.Config{})
//	if err != nil { ... }
//	defer b.Close()
//	client, _ := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
//
// With a zero Config the broker listens on a free port of 127.0.0.1 and
// keeps its data in a temporary directory removed by Close.
package potok

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/potok-io/potok/broker"
	"github.com/potok-io/potok/config"
)

// Config configures an embedded broker.
type Config struct {
	// DataDir holds the logs and metadata. Empty: a temporary directory,
	// removed when the broker closes.
	DataDir string
	// Listen is the host:port of the PLAINTEXT listener. Empty:
	// 127.0.0.1:0, a free port.
	Listen string
	// Settings are any broker settings with Kafka's names
	// (server.properties), applied over the defaults. They win over
	// DataDir and Listen.
	Settings map[string]string
	// Logger receives the broker's logs; nil discards them.
	Logger *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	b   *broker.Broker
	tmp string
}

// Start starts a broker and returns once it accepts connections.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	settings := config.Values{}
	eb := &Broker{}
	dir := cfg.DataDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "potok-"); err != nil {
			return nil, fmt.Errorf("potok: %w", err)
		}
		eb.tmp = dir
	}
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	settings["log.dirs"] = dir
	settings["listeners"] = "PLAINTEXT://" + listen
	for k, v := range cfg.Settings {
		settings[k] = v
	}
	b, err := broker.New(broker.Options{Settings: settings, Logger: cfg.Logger})
	if err == nil {
		eb.b = b
		err = b.Start()
		if err != nil {
			b.Shutdown(ctx)
		}
	}
	if err != nil {
		if eb.tmp != "" {
			os.RemoveAll(eb.tmp)
		}
		return nil, fmt.Errorf("potok: %w", err)
	}
	return eb, nil
}

// Addr returns the host:port clients connect to (the first listener).
func (b *Broker) Addr() string { return b.b.Addr("").String() }

// Close stops the broker cleanly and removes a temporary data directory.
func (b *Broker) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := b.b.Shutdown(ctx)
	if b.tmp != "" {
		if rerr := os.RemoveAll(b.tmp); err == nil {
			err = rerr
		}
	}
	return err
}
