package quota

import (
	"math"
	"testing"
	"time"

	"github.com/potok-io/potok/metadata"
)

func entity(parts ...metadata.QuotaEntityPart) metadata.QuotaEntity {
	e, err := metadata.QuotaEntityOf(parts)
	if err != nil {
		panic(err)
	}
	return e
}

func user(n *string) metadata.QuotaEntityPart {
	return metadata.QuotaEntityPart{Type: metadata.QuotaUser, Name: n}
}
func client(n *string) metadata.QuotaEntityPart {
	return metadata.QuotaEntityPart{Type: metadata.QuotaClientID, Name: n}
}
func name(s string) *string { return &s }

func TestPrecedence(t *testing.T) {
	m := New(Config{})
	if m.Active(Produce) {
		t.Fatal("active without quotas")
	}
	m.SetQuotas(map[metadata.QuotaEntity]map[string]float64{
		entity(client(nil)):                         {"producer_byte_rate": 8},
		entity(client(name("c1"))):                  {"producer_byte_rate": 7},
		entity(user(nil)):                           {"producer_byte_rate": 6},
		entity(user(nil), client(nil)):              {"producer_byte_rate": 5},
		entity(user(nil), client(name("c2"))):       {"producer_byte_rate": 4},
		entity(user(name("u1"))):                    {"producer_byte_rate": 3, "consumer_byte_rate": 30},
		entity(user(name("u1")), client(nil)):       {"producer_byte_rate": 2},
		entity(user(name("u1")), client(name("x"))): {"producer_byte_rate": 1},
	})
	for _, tc := range []struct {
		kind         Kind
		user, client string
		bound        float64
		su, sc       string
	}{
		{Produce, "u1", "x", 1, "u1", "x"},
		{Produce, "u1", "y", 2, "u1", "y"},
		{Produce, "u2", "c2", 4, "u2", "c2"},
		{Produce, "u2", "other", 5, "u2", "other"},
		{Fetch, "u1", "x", 30, "u1", ""}, // per user: shared by its clients
	} {
		b, su, sc, ok := m.Bound(tc.kind, tc.user, tc.client)
		if !ok || b != tc.bound || su != tc.su || sc != tc.sc {
			t.Errorf("%v %s/%s: %v %s/%s %v, want %v %s/%s", tc.kind, tc.user, tc.client, b, su, sc, ok, tc.bound, tc.su, tc.sc)
		}
	}
	if _, _, _, ok := m.Bound(Request, "u1", "x"); ok {
		t.Error("request quota without one set")
	}
	// Without user quotas, client quotas apply per client id.
	m.SetQuotas(map[metadata.QuotaEntity]map[string]float64{
		entity(client(nil)):        {"producer_byte_rate": 8},
		entity(client(name("c1"))): {"producer_byte_rate": 7},
	})
	if b, su, sc, _ := m.Bound(Produce, Anonymous, "c1"); b != 7 || su != "" || sc != "c1" {
		t.Errorf("client c1: %v %q %q", b, su, sc)
	}
	if b, _, sc, _ := m.Bound(Produce, Anonymous, "c9"); b != 8 || sc != "c9" {
		t.Errorf("default client: %v %q", b, sc)
	}
}

// A client that obeys its throttle times gets its quota, within a few
// percent, whatever it tries to send.
func TestThrottledClientConvergesToTheQuota(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		bound    float64
		chunk    float64
		interval time.Duration
		runFor   time.Duration
	}{
		{"kafka sampling, 5x over", Config{Samples: 11, Window: time.Second}, 100_000, 50_000, 100 * time.Millisecond, 120 * time.Second},
		{"short windows, 20x over", Config{Samples: 3, Window: 500 * time.Millisecond}, 1_000_000, 200_000, 10 * time.Millisecond, 60 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(tc.cfg)
			m.SetQuotas(map[metadata.QuotaEntity]map[string]float64{entity(client(nil)): {"producer_byte_rate": tc.bound}})
			now := time.Unix(1_000_000, 0)
			start := now
			sent := 0.0
			// Measure after the first windows, when the client has
			// spent its initial allowance.
			var measureFrom time.Time
			var sentBefore float64
			warmup := time.Duration(tc.cfg.Samples) * tc.cfg.Window
			for now.Sub(start) < tc.runFor {
				if measureFrom.IsZero() && now.Sub(start) >= warmup {
					measureFrom, sentBefore = now, sent
				}
				sent += tc.chunk
				d := m.Record(Produce, Anonymous, "p", tc.chunk, now)
				now = now.Add(max(d, tc.interval))
			}
			rate := (sent - sentBefore) / now.Sub(measureFrom).Seconds()
			if math.Abs(rate-tc.bound)/tc.bound > 0.05 {
				t.Fatalf("steady rate %.0f B/s, quota %.0f B/s", rate, tc.bound)
			}
		})
	}
}

func TestRequestPercentageAndUnrecord(t *testing.T) {
	m := New(Config{Samples: 2, Window: time.Second})
	m.SetQuotas(map[metadata.QuotaEntity]map[string]float64{entity(user(nil)): {"request_percentage": 50, "consumer_byte_rate": 1000}})
	now := time.Unix(100, 0)
	// 0.9 s of handler time in one second is 90%, over a 50% quota.
	if d := m.Record(Request, Anonymous, "c", 90, now); d <= 0 {
		t.Fatal("no throttle at 90% of a thread")
	}
	if d := m.Record(Fetch, Anonymous, "c", 5000, now); d <= 0 {
		t.Fatal("no fetch throttle")
	}
	m.Unrecord(Fetch, Anonymous, "c", 5000, now)
	if d := m.Throttle(Fetch, Anonymous, "c", now); d != 0 {
		t.Fatalf("throttled after unrecord: %v", d)
	}
	// Old samples are forgotten.
	if d := m.Throttle(Request, Anonymous, "c", now.Add(5*time.Second)); d != 0 {
		t.Fatalf("still throttled 5 s later: %v", d)
	}
}
