// Package quota enforces Kafka's client quotas: produce and fetch byte rates
// and the share of request-handling time, per user and client id, with
// Kafka's defaults and precedence (KIP-13, KIP-55, KIP-124, KIP-219).
//
// # Which quota applies
//
// A client is a (user, client id) pair; until SASL exists every user is
// Kafka's ANONYMOUS. For each kind of quota the first of these entities that
// sets it applies, as in Kafka's DefaultQuotaCallback:
//
//	user=U, client-id=C           user=<default>, client-id=C
//	user=U, client-id=<default>   user=<default>, client-id=<default>
//	user=U                        user=<default>
//	                              client-id=C
//	                              client-id=<default>
//
// (the left column first). The entity also decides who shares the budget:
// a quota on user=U alone is shared by all of U's clients, one on
// client-id=<default> gives each client id a budget of its own.
//
// # Rates and throttle times
//
// Usage is recorded in quota.window.num samples of quota.window.size
// each; the rate is their sum over the time they span, counted as at least
// num-1 whole windows so one early burst is not read as a huge rate
// (Kafka's Rate.windowSize). Past the bound, the throttle time is how long
// the client must stay idle for the rate to come back to the bound:
// (rate - bound) / bound × span, at most the span of all windows. The
// caller sends it as throttle_time_ms and mutes the connection for that
// long after the response (KIP-219).
//
// The core is pure: every call takes the time, so tests drive it with a
// logical clock. Nothing is recorded, and no lock is taken, while no quota
// is configured.
package quota

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/potok-io/potok/metadata"
)

// Kind is a kind of quota.
type Kind uint8

const (
	Produce Kind = iota // producer_byte_rate: bytes of produce requests per second
	Fetch               // consumer_byte_rate: bytes of fetch responses per second
	Request             // request_percentage: % of one thread's time spent on requests
	numKinds
)

// Keys are the quota config keys, indexed by Kind.
var Keys = [numKinds]string{"producer_byte_rate", "consumer_byte_rate", "request_percentage"}

// KindOf returns the kind a config key sets.
func KindOf(key string) (Kind, bool) {
	for k, name := range Keys {
		if name == key {
			return Kind(k), true
		}
	}
	return 0, false
}

// Anonymous is the user of an unauthenticated connection (Kafka's
// KafkaPrincipal.ANONYMOUS).
const Anonymous = "ANONYMOUS"

// Config is the sampling of rates (quota.window.num and
// quota.window.size.seconds).
type Config struct {
	Samples int
	Window  time.Duration
}

// Manager records usage and computes throttle times.
type Manager struct {
	cfg   Config
	table atomic.Pointer[table]

	sensors sync.Map      // sensorKey -> *sensor
	created atomic.Uint64 // sensors created, to prune now and then
	pruning atomic.Bool
}

// table is the configured quotas, replaced as a whole.
type table struct {
	byEntity map[metadata.QuotaEntity]map[string]float64
	any      [numKinds]bool // some entity sets this kind
}

type sensorKey struct {
	kind         Kind
	user, client string
}

// New returns a manager without quotas.
func New(cfg Config) *Manager {
	if cfg.Samples < 1 {
		cfg.Samples = 11
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Second
	}
	m := &Manager{cfg: cfg}
	m.table.Store(&table{})
	return m
}

// SetQuotas replaces the configured quotas (the image's client quotas).
func (m *Manager) SetQuotas(q map[metadata.QuotaEntity]map[string]float64) {
	t := &table{byEntity: q}
	for _, vals := range q {
		for key := range vals {
			if k, ok := KindOf(key); ok {
				t.any[k] = true
			}
		}
	}
	m.table.Store(t)
}

// Active reports whether any quota of kind k is configured; callers skip
// measuring when it is not.
func (m *Manager) Active(k Kind) bool { return m.table.Load().any[k] }

// Bound returns the quota of kind k that applies to a client and the
// entity it comes from; ok is false when none applies.
func (m *Manager) Bound(k Kind, user, client string) (bound float64, shareUser, shareClient string, ok bool) {
	t := m.table.Load()
	if !t.any[k] {
		return 0, "", "", false
	}
	key := Keys[k]
	named := func(n string) metadata.QuotaName { return metadata.QuotaName{Set: true, Name: n} }
	def := metadata.QuotaName{Set: true, Default: true}
	for _, c := range [...]struct {
		e            metadata.QuotaEntity
		user, client bool // the budget is per user, per client
	}{
		{metadata.QuotaEntity{User: named(user), ClientID: named(client)}, true, true},
		{metadata.QuotaEntity{User: named(user), ClientID: def}, true, true},
		{metadata.QuotaEntity{User: named(user)}, true, false},
		{metadata.QuotaEntity{User: def, ClientID: named(client)}, true, true},
		{metadata.QuotaEntity{User: def, ClientID: def}, true, true},
		{metadata.QuotaEntity{User: def}, true, false},
		{metadata.QuotaEntity{ClientID: named(client)}, false, true},
		{metadata.QuotaEntity{ClientID: def}, false, true},
	} {
		v, found := t.byEntity[c.e][key]
		if !found {
			continue
		}
		if c.user {
			shareUser = user
		}
		if c.client {
			shareClient = client
		}
		return v, shareUser, shareClient, true
	}
	return 0, "", "", false
}

// Record adds usage of kind k by a client at now and returns how long the
// client must be throttled, 0 when within its quota or without one.
func (m *Manager) Record(k Kind, user, client string, value float64, now time.Time) time.Duration {
	bound, u, c, ok := m.Bound(k, user, client)
	if !ok {
		return 0
	}
	s := m.sensor(sensorKey{k, u, c}, now)
	return s.record(value, bound, now.UnixNano(), &m.cfg)
}

// Unrecord takes back usage recorded for a response that was not sent
// (Kafka's unrecordQuotaSensor for a throttled fetch, which is answered
// empty).
func (m *Manager) Unrecord(k Kind, user, client string, value float64, now time.Time) {
	bound, u, c, ok := m.Bound(k, user, client)
	if !ok {
		return
	}
	s := m.sensor(sensorKey{k, u, c}, now)
	s.record(-value, bound, now.UnixNano(), &m.cfg)
}

// Throttle returns the throttle time a client would get now without
// recording anything.
func (m *Manager) Throttle(k Kind, user, client string, now time.Time) time.Duration {
	return m.Record(k, user, client, 0, now)
}

// idleExpiry is how long a client's sensor outlives its last use (Kafka
// expires quota sensors after an hour).
const idleExpiry = time.Hour

func (m *Manager) sensor(key sensorKey, now time.Time) *sensor {
	if v, ok := m.sensors.Load(key); ok {
		return v.(*sensor)
	}
	v, _ := m.sensors.LoadOrStore(key, newSensor(m.cfg.Samples))
	if m.created.Add(1)%1024 == 0 && !m.pruning.Swap(true) {
		m.prune(now)
		m.pruning.Store(false)
	}
	return v.(*sensor)
}

// prune drops the sensors of clients idle for idleExpiry; called now and
// then as sensors are created, so no goroutine is needed.
func (m *Manager) prune(now time.Time) {
	cutoff := now.Add(-idleExpiry).UnixNano()
	m.sensors.Range(func(k, v any) bool {
		if v.(*sensor).lastUsed.Load() < cutoff {
			m.sensors.Delete(k)
		}
		return true
	})
}

// sensor is a sampled rate (Kafka's Rate over a SampledStat).
type sensor struct {
	lastUsed atomic.Int64

	mu      sync.Mutex
	samples []sample // guarded by mu; a ring
	current int      // guarded by mu
}

type sample struct {
	start int64 // ns; 0: unused
	value float64
}

func newSensor(n int) *sensor { return &sensor{samples: make([]sample, n)} }

// record adds value at now (ns) and returns the throttle time for bound.
func (s *sensor) record(value, bound float64, now int64, cfg *Config) time.Duration {
	s.lastUsed.Store(now)
	win := int64(cfg.Window)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := &s.samples[s.current]
	if cur.start == 0 || now >= cur.start+win {
		s.current = (s.current + 1) % len(s.samples)
		cur = &s.samples[s.current]
		*cur = sample{start: now}
	}
	cur.value += value
	// Samples older than every window are forgotten.
	oldest := now
	total := 0.0
	for i := range s.samples {
		sm := &s.samples[i]
		if sm.start == 0 {
			continue
		}
		if now-sm.start >= int64(len(s.samples))*win {
			*sm = sample{}
			continue
		}
		total += sm.value
		oldest = min(oldest, sm.start)
	}
	// The span the rate is measured over: at least samples-1 windows.
	span := now - oldest
	if full, minFull := span/win, int64(len(s.samples)-1); full < minFull {
		span += (minFull - full) * win
	}
	if span <= 0 || bound <= 0 {
		return 0
	}
	rate := total / (float64(span) / float64(time.Second))
	if rate <= bound {
		return 0
	}
	throttle := (rate - bound) / bound * float64(span)
	maxThrottle := float64(int64(len(s.samples)) * win)
	return time.Duration(math.Min(throttle, maxThrottle))
}
