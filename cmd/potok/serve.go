package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/potok-io/potok/broker"
	"github.com/potok-io/potok/config"
	"github.com/potok-io/potok/observe"
)

// devDefaults are what `potok serve` with no arguments uses, where they
// differ from Kafka's defaults: a local listener and a local data directory.
var devDefaults = config.Values{
	"listeners": "PLAINTEXT://localhost:9092",
	"log.dirs":  "./potok-data",
}

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var (
		configFile = fs.String("config", "", "server.properties `file` with Kafka broker settings")
		sets       setFlags
		listeners  = fs.String("listeners", "", "listeners, e.g. PLAINTEXT://localhost:9092 (default from settings)")
		advertised = fs.String("advertised-listeners", "", "endpoints given to clients, e.g. PLAINTEXT://myhost:9092")
		logDirs    = fs.String("log-dirs", "", "comma-separated data directories (default ./potok-data)")
		nodeID     = fs.Int("node-id", -1, "node id (default 1)")
		logLevel   = fs.String("log-level", "info", "log level: debug, info, warn or error (change it at runtime with\nIncrementalAlterConfigs on the broker's loggers or PUT /loggers on the HTTP listener)")
		logFormat  = fs.String("log-format", "text", "log format: text or json")
		httpAddr   = fs.String("http-listener", "", "host:port of the HTTP admin listener (/metrics, /healthz, /readyz, /loggers);\nsets potok.http.listener, off by default")
	)
	fs.Var(&sets, "set", "a broker setting as `name=value`; repeatable")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: potok serve [flags]\n\nSettings come from defaults, --config, POTOK_* environment variables\n(POTOK_LOG_DIRS=... sets log.dirs), then flags.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	level, err := observe.ParseLevel(*logLevel)
	if err != nil {
		return fmt.Errorf("invalid --log-level: %w", err)
	}
	// The handler passes everything; levels filter, so that they can be
	// lowered at runtime.
	all := &slog.HandlerOptions{Level: slog.LevelDebug - 4}
	var handler slog.Handler
	switch *logFormat {
	case "text":
		handler = slog.NewTextHandler(os.Stderr, all)
	case "json":
		handler = slog.NewJSONHandler(os.Stderr, all)
	default:
		return fmt.Errorf("invalid --log-format %q", *logFormat)
	}
	levels := observe.NewLevels(level)
	logger := levels.Logger(handler, "potok.main")

	settings := config.Values{}
	for k, v := range devDefaults {
		settings[k] = v
	}
	if *configFile != "" {
		f, err := os.Open(*configFile)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		v, err := config.ParseProperties(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("config %s: %w", *configFile, err)
		}
		for k, val := range v {
			settings[k] = val
		}
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, "POTOK_"); ok && name != "" {
			settings[strings.ToLower(strings.ReplaceAll(name, "_", "."))] = v
		}
	}
	flagSettings := map[string]string{"listeners": *listeners, "advertised.listeners": *advertised, "log.dirs": *logDirs,
		"potok.http.listener": *httpAddr}
	for k, v := range flagSettings {
		if v != "" {
			settings[k] = v
		}
	}
	if *nodeID >= 0 {
		settings["node.id"] = fmt.Sprint(*nodeID)
	}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--set %q is not name=value", kv)
		}
		settings[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}

	// Catch signals before anything can announce readiness, so a SIGTERM
	// right after "ready" still shuts down cleanly.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	start := time.Now()
	b, err := broker.New(broker.Options{Settings: settings, Logger: slog.New(handler), Levels: levels})
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		b.Shutdown(context.Background())
		return err
	}
	var addrs []string
	for _, l := range config.SplitList(settings["listeners"]) {
		name, _, _, _ := config.ParseListener(l)
		addrs = append(addrs, name+"://"+b.Addr(name).String())
	}
	sort.Strings(addrs)
	ready := []any{"node", b.NodeID(), "cluster", b.ClusterID(), "listeners", strings.Join(addrs, ","),
		"data", settings["log.dirs"], "startup", time.Since(start).Round(time.Microsecond)}
	if a := b.HTTPAddr(); a != nil {
		ready = append(ready, "http", "http://"+a.String())
	}
	logger.Info("potok is ready", ready...)

	s := <-sig
	logger.Info("shutting down", "signal", s.String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		<-sig
		logger.Warn("second signal, exiting at once")
		os.Exit(1)
	}()
	if err := b.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped cleanly")
	return nil
}
