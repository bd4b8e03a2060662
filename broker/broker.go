package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/potok-io/potok/config"
	"github.com/potok-io/potok/coordinator"
	"github.com/potok-io/potok/logstore"
	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/observe"
	"github.com/potok-io/potok/protocol"
	"github.com/potok-io/potok/records"
)

// Options configure a broker.
type Options struct {
	// Settings are the static broker settings (server.properties names).
	Settings config.Values
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// FS is the filesystem of the logs; nil means the OS.
	FS logstore.FS
	// Levels holds the loggers' levels, changeable at runtime (DescribeConfigs
	// and IncrementalAlterConfigs on BROKER_LOGGER, the HTTP /loggers
	// endpoint). nil: Logger's own handler decides what is logged.
	Levels *observe.Levels
}

// Broker is one Potok node: a broker and, on a single node, the controller.
type Broker struct {
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	src       config.Sources // Static set at start; dynamic parts come from the image
	nodeID    int32
	clusterID string
	listeners []protocol.Listener
	logDirs   []string

	ctrl   *metadata.Controller
	logs   *logstore.Manager
	server *protocol.Server

	mu       sync.Mutex                 // serializes topic table rebuilds
	topics   atomic.Pointer[topicTable] // read without locks
	byLog    sync.Map                   // *logstore.Log -> *partition
	pids     pidAllocator
	sessions fetchSessions
	txn      *coordinator.TxnCoordinator
	// onMarker tells the group coordinator that a transaction marker was
	// written to a __consumer_offsets partition.
	onMarker func(partition int32, producerID int64, commit bool)
	advertis map[string]metadata.Endpoint // advertised endpoint per listener name

	apis          apiTable
	fetchMaxBytes int32
	// decompress bounds the memory of produced batches being decompressed
	// for validation at once, whatever the number of producers.
	decompress *records.Budget
	closed     atomic.Bool

	groups *coordinator.Groups // the group coordinator (findcoordinator.go)
	ops    opsState            // ops.go: loggers, metrics, quotas, HTTP admin listener
}

// New opens the data directories, the metadata log and every partition log.
// It does not listen yet; call Start.
func New(opts Options) (*Broker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Settings == nil {
		opts.Settings = config.Values{}
	}
	b := &Broker{opts: opts, log: opts.Logger, now: opts.Now, src: config.Sources{Static: opts.Settings}, apis: newAPITable(),
		decompress: records.NewBudget(decompressBudget)}
	b.initOps()
	if err := b.checkSettings(); err != nil {
		return nil, err
	}
	if err := b.prepareDirs(); err != nil {
		return nil, err
	}
	metaDir := b.src.BrokerString("metadata.log.dir")
	if metaDir == "" {
		metaDir = b.logDirs[0]
	}
	ctrl, err := metadata.OpenController(filepath.Join(metaDir, metadataDirName))
	if err != nil {
		return nil, err
	}
	b.ctrl = ctrl
	b.openOps() // ops.go
	logs, err := logstore.Open(logstore.ManagerOptions{
		Dirs:      b.logDirs,
		FS:        opts.FS,
		Now:       opts.Now,
		Logger:    b.logger(loggerLogstore),
		OnDurable: b.onDurable,
		OnSync: func(d time.Duration, err error) {
			if m := b.ops.metrics; m != nil && err == nil {
				m.ObserveFsync(d)
			}
		},
		// Recovery rebuilds indexes with each topic's own settings.
		LogConfig: func(tp logstore.TopicPartition) logstore.Config {
			return logConfig(b.resolveSettings(ctrl.Image(), tp.Topic))
		},
		RetentionCheckInterval: time.Duration(b.src.BrokerInt("log.retention.check.interval.ms")) * time.Millisecond,
		RecoveryThreads:        int(b.src.BrokerInt("num.recovery.threads.per.data.dir")),
		CleanerInterval:        b.cleanerInterval(),
		PageCacheTail:          b.src.BrokerInt("potok.log.page.cache.tail.bytes"),
	})
	if err != nil {
		ctrl.Close()
		return nil, err
	}
	b.logs = logs
	b.fetchMaxBytes = int32(b.src.BrokerInt("fetch.max.bytes"))
	b.pids.b = b
	b.topics.Store(&topicTable{byName: map[string]*topicState{}, byID: map[metadata.Uuid]*topicState{}})
	b.mu.Lock()
	b.rebuildTopics(ctrl.Image())
	b.mu.Unlock()
	ctrl.Subscribe(func(_, next *metadata.Image) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.rebuildTopics(next)
	})
	// Group coordinator: load the __consumer_offsets partitions that exist
	// (see findcoordinator.go). It comes first: loading __transaction_state
	// resumes prepared transactions, whose markers the group coordinator
	// must see to commit their offsets.
	b.startGroups()
	b.onMarker = b.groups.CompleteTxn
	if err := b.startTxnCoordinator(); err != nil {
		b.groups.Close()
		logs.Close()
		ctrl.Close()
		return nil, err
	}
	return b, nil
}

// decompressBudget is the memory all produced batches being decompressed at
// once may hold: with the 64 MiB cap per batch (maxDecompressed), two
// decompression bombs at a time, and many batches of ordinary ratios.
const decompressBudget = 256 << 20

// metadataDirName is the metadata log's directory inside the metadata log
// dir, named as Kafka names it.
const metadataDirName = "__cluster_metadata-0"

func (b *Broker) cleanerInterval() time.Duration {
	if !b.src.BrokerBool("log.cleaner.enable") {
		return -1
	}
	return time.Duration(b.src.BrokerInt("log.cleaner.backoff.ms")) * time.Millisecond
}

// checkSettings validates every static setting Potok knows and derives the
// node id, listeners and log dirs. Unknown settings are kept (Kafka ignores
// unknown keys with a warning) so a full server.properties works.
func (b *Broker) checkSettings() error {
	for k, v := range b.src.Static {
		if d, ok := config.Broker.Lookup(k); ok {
			if v == "" && d.Nullable {
				continue
			}
			if err := d.Check(v); err != nil {
				return fmt.Errorf("invalid setting: %w", err)
			}
		} else if _, ok := config.Topic.Lookup(k); !ok {
			b.log.Warn("unknown setting ignored", "name", k)
		}
	}
	b.nodeID = int32(b.src.BrokerInt("node.id"))
	if id, ok := b.src.Static["broker.id"]; ok && config.ParseInt64(id) >= 0 {
		if _, set := b.src.Static["node.id"]; set && config.ParseInt64(id) != int64(b.nodeID) {
			return fmt.Errorf("invalid setting: broker.id %s and node.id %d differ", id, b.nodeID)
		}
		b.nodeID = int32(config.ParseInt64(id))
	}
	seen := map[string]bool{}
	for _, l := range config.SplitList(b.src.BrokerString("listeners")) {
		name, host, port, err := config.ParseListener(l)
		if err != nil {
			return fmt.Errorf("invalid setting: listeners: %w", err)
		}
		if seen[name] {
			return fmt.Errorf("invalid setting: listeners: %s appears twice", name)
		}
		seen[name] = true
		b.listeners = append(b.listeners, protocol.Listener{Name: name, Address: net.JoinHostPort(host, strconv.Itoa(port))})
	}
	if len(b.listeners) == 0 {
		return errors.New("invalid setting: listeners is empty")
	}
	dirs := b.src.Static["log.dirs"]
	if dirs == "" {
		if d, ok := b.src.Static["log.dir"]; ok {
			dirs = d
		} else {
			dirs = b.src.BrokerString("log.dirs")
		}
	}
	b.logDirs = config.SplitList(dirs)
	if len(b.logDirs) == 0 {
		return errors.New("invalid setting: log.dirs is empty")
	}
	return nil
}

// prepareDirs creates the log dirs and checks or writes meta.properties,
// which ties a data directory to its cluster and node (Kafka's
// auto-format on first start).
func (b *Broker) prepareDirs() error {
	for _, dir := range b.logDirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("data directory %s: %w", dir, err)
		}
		probe := filepath.Join(dir, ".potok-write-test")
		if err := os.WriteFile(probe, nil, 0o644); err != nil {
			return fmt.Errorf("data directory %s is not writable: %w", dir, err)
		}
		os.Remove(probe)
		props, err := readMetaProperties(dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return err
		}
		if id := props["node.id"]; id != strconv.Itoa(int(b.nodeID)) {
			return fmt.Errorf("data directory %s belongs to node %s, not node %d", dir, id, b.nodeID)
		}
		if b.clusterID != "" && props["cluster.id"] != b.clusterID {
			return fmt.Errorf("data directory %s belongs to cluster %s, not %s", dir, props["cluster.id"], b.clusterID)
		}
		b.clusterID = props["cluster.id"]
	}
	if b.clusterID == "" {
		b.clusterID = newUuid().String()
	}
	for _, dir := range b.logDirs {
		if _, err := readMetaProperties(dir); err == nil {
			continue
		}
		content := fmt.Sprintf("#\n#%s\nversion=1\nnode.id=%d\ncluster.id=%s\ndirectory.id=%s\n",
			time.Now().UTC().Format(time.RFC1123), b.nodeID, b.clusterID, newUuid())
		if err := writeFileSync(filepath.Join(dir, "meta.properties"), []byte(content)); err != nil {
			return fmt.Errorf("data directory %s: %w", dir, err)
		}
	}
	return nil
}

func readMetaProperties(dir string) (config.Values, error) {
	f, err := os.Open(filepath.Join(dir, "meta.properties"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	v, err := config.ParseProperties(f)
	if err != nil {
		return nil, fmt.Errorf("%s/meta.properties: %w", dir, err)
	}
	return v, nil
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// newUuid returns a random UUID as Kafka's Uuid.randomUuid does: never zero,
// never Uuid.ONE_UUID, and never one whose text form starts with '-'.
func newUuid() metadata.Uuid {
	for {
		var u metadata.Uuid
		rand.Read(u[:])
		one := metadata.Uuid{15: 1}
		if u.IsZero() || u == one || strings.HasPrefix(u.String(), "-") {
			continue
		}
		return u
	}
}

// Start binds the listeners, registers the broker in the metadata and starts
// serving.
func (b *Broker) Start() error {
	b.server = protocol.NewServer(protocol.Config{
		Listeners:             b.listeners,
		MaxRequestBytes:       int32(b.src.BrokerInt("socket.request.max.bytes")),
		QueuedMaxRequestBytes: b.queuedMaxRequestBytes(),
		MaxConnections:        int(b.src.BrokerInt("max.connections")),
		MaxConnectionsPerIP:   int(b.src.BrokerInt("max.connections.per.ip")),
		IdleTimeout:           time.Duration(b.src.BrokerInt("connections.max.idle.ms")) * time.Millisecond,
		Logger:                b.logger(loggerProtocol),
		Observer:              b.ops.metrics,
	}, b)
	if err := b.server.Listen(); err != nil {
		return err
	}
	if err := b.register(); err != nil {
		b.server.Shutdown(context.Background())
		return err
	}
	if err := b.startHTTP(); err != nil { // ops.go
		b.server.Shutdown(context.Background())
		return err
	}
	b.server.Serve()
	b.ops.ready.Store(true)
	return nil
}

func (b *Broker) queuedMaxRequestBytes() int64 {
	if n := b.src.BrokerInt("queued.max.request.bytes"); n > 0 {
		return n
	}
	return 1 << 30
}

// register records this broker and its advertised endpoints in the metadata.
func (b *Broker) register() error {
	adv, err := b.advertisedEndpoints()
	if err != nil {
		return err
	}
	b.advertis = map[string]metadata.Endpoint{}
	for _, e := range adv {
		b.advertis[e.Name] = e
	}
	var rack *string
	if r := b.src.BrokerString("broker.rack"); r != "" {
		rack = &r
	}
	_, err = b.ctrl.Commit(func(im *metadata.Image) ([]metadata.Record, error) {
		epoch := im.Offset() + 1
		recs := []metadata.Record{&metadata.RegisterBrokerRecord{
			BrokerID: b.nodeID, Incarnation: newUuid(), Epoch: epoch, Endpoints: adv, Rack: rack,
		}}
		if im.Offset() < 0 {
			// A new cluster starts with the KIP-848 group protocol
			// enabled, as Kafka 4 formats its clusters; UpdateFeatures
			// can turn it off.
			recs = append(recs, &metadata.FeatureLevelRecord{Name: "group.version", Level: 1})
		}
		return recs, nil
	})
	return err
}

// advertisedEndpoints resolves advertised.listeners, defaulting to the bound
// listeners with wildcard hosts replaced by localhost and port 0 by the port
// actually bound.
func (b *Broker) advertisedEndpoints() ([]metadata.Endpoint, error) {
	bound := map[string]*net.TCPAddr{}
	for _, l := range b.listeners {
		if a, ok := b.server.Addr(l.Name).(*net.TCPAddr); ok {
			bound[l.Name] = a
		}
	}
	var out []metadata.Endpoint
	if adv := b.src.BrokerString("advertised.listeners"); adv != "" {
		for _, l := range config.SplitList(adv) {
			name, host, port, err := config.ParseListener(l)
			if err != nil {
				return nil, fmt.Errorf("invalid setting: advertised.listeners: %w", err)
			}
			a, ok := bound[name]
			if !ok {
				return nil, fmt.Errorf("invalid setting: advertised.listeners names %s, which is not in listeners", name)
			}
			if port == 0 {
				port = a.Port
			}
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "localhost"
			}
			out = append(out, metadata.Endpoint{Name: name, Host: host, Port: int32(port)})
		}
		return out, nil
	}
	for _, l := range b.listeners {
		host, _, _ := net.SplitHostPort(l.Address)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		out = append(out, metadata.Endpoint{Name: l.Name, Host: host, Port: int32(bound[l.Name].Port)})
	}
	return out, nil
}

// Addr returns the bound address of a listener (the first one if name is
// empty).
func (b *Broker) Addr(name string) net.Addr {
	if name == "" {
		name = b.listeners[0].Name
	}
	return b.server.Addr(name)
}

// NodeID returns this node's id.
func (b *Broker) NodeID() int32 { return b.nodeID }

// ClusterID returns the cluster id from meta.properties.
func (b *Broker) ClusterID() string { return b.clusterID }

// wakeFetchesForShutdown answers every long-poll fetch with what it has,
// so that connections can finish their requests and close promptly.
func (b *Broker) wakeFetchesForShutdown() {
	for _, ts := range b.topics.Load().byName {
		for _, p := range ts.parts {
			p.mu.Lock()
			var ws []fetchWake
			for w, gen := range p.fetches {
				ws = append(ws, fetchWake{w, gen})
			}
			p.mu.Unlock()
			for _, fw := range ws {
				go fw.w.try(fw.gen, true, false)
			}
		}
	}
}

// Shutdown stops accepting connections, finishes the requests in flight,
// and closes the logs cleanly (checkpoints, clean-shutdown marker), so the
// next start does not rescan them.
func (b *Broker) Shutdown(ctx context.Context) error {
	if b.closed.Swap(true) {
		return nil
	}
	b.ops.ready.Store(false)
	var errs []error
	// Group coordinator: stop it first, so that JoinGroup and SyncGroup
	// requests it holds are answered (NOT_COORDINATOR) and their
	// connections can finish.
	b.groups.Close()
	b.wakeFetchesForShutdown()
	if b.server != nil {
		if err := b.server.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	b.txn.Close()
	if err := b.logs.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := b.ctrl.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := b.stopHTTP(ctx); err != nil { // ops.go
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
