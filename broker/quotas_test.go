package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func setQuota(t *testing.T, adm *kadm.Client, entity kadm.ClientQuotaEntity, key string, value float64) {
	t.Helper()
	res, err := adm.AlterClientQuotas(ctxT(t), []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: key, Value: value}}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("set %s %s=%v: %v %v %s", entity, key, value, err, res[0].Err, res[0].ErrMessage)
	}
}

func TestClientQuotasDescribeAndAlter(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	ctx := ctxT(t)
	adm := kadm.NewClient(newClient(t, b))
	alice := "alice"
	c1 := "c1"
	setQuota(t, adm, kadm.ClientQuotaEntity{{Type: "user", Name: &alice}}, "producer_byte_rate", 1024)
	setQuota(t, adm, kadm.ClientQuotaEntity{{Type: "user", Name: &alice}, {Type: "client-id", Name: &c1}}, "request_percentage", 12.5)
	setQuota(t, adm, kadm.ClientQuotaEntity{{Type: "client-id"}}, "consumer_byte_rate", 4096)

	describe := func(strict bool, comps ...kadm.DescribeClientQuotaComponent) []string {
		t.Helper()
		d, err := adm.DescribeClientQuotas(ctx, strict, comps)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, q := range d {
			e := fmt.Sprint(q.Entity)
			for _, v := range q.Values {
				e += fmt.Sprintf(" %s=%g", v.Key, v.Value)
			}
			out = append(out, e)
		}
		return out
	}
	if got := describe(false); len(got) != 3 {
		t.Fatalf("all quotas: %v", got)
	}
	if got := describe(true, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: &alice}); fmt.Sprint(got) != "[{user=alice} producer_byte_rate=1024]" {
		t.Fatalf("strict user=alice: %v", got)
	}
	if got := describe(false, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: &alice}); len(got) != 2 {
		t.Fatalf("user=alice, not strict: %v", got)
	}
	if got := describe(false, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 1}); fmt.Sprint(got) != "[{client-id=<default>} consumer_byte_rate=4096]" {
		t.Fatalf("default client: %v", got)
	}
	if got := describe(false, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 2}); len(got) != 2 {
		t.Fatalf("any client: %v", got)
	}

	// Refused: unknown key, fractional byte rate, unenforced kinds.
	for _, tc := range []struct {
		entity kadm.ClientQuotaEntity
		op     kadm.AlterClientQuotaOp
	}{
		{kadm.ClientQuotaEntity{{Type: "user"}}, kadm.AlterClientQuotaOp{Key: "bogus_rate", Value: 1}},
		{kadm.ClientQuotaEntity{{Type: "user"}}, kadm.AlterClientQuotaOp{Key: "producer_byte_rate", Value: 1.5}},
		{kadm.ClientQuotaEntity{{Type: "user"}}, kadm.AlterClientQuotaOp{Key: "producer_byte_rate", Value: -1}},
		{kadm.ClientQuotaEntity{{Type: "user"}}, kadm.AlterClientQuotaOp{Key: "controller_mutation_rate", Value: 1}},
		{kadm.ClientQuotaEntity{{Type: "ip"}}, kadm.AlterClientQuotaOp{Key: "connection_creation_rate", Value: 1}},
		{kadm.ClientQuotaEntity{{Type: "group"}}, kadm.AlterClientQuotaOp{Key: "producer_byte_rate", Value: 1}},
	} {
		res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: tc.entity, Ops: []kadm.AlterClientQuotaOp{tc.op}}})
		if err != nil || !errErrIs(res[0].Err, kerr.InvalidRequest) || res[0].ErrMessage == "" {
			t.Errorf("%v %v: %v %v %q", tc.entity, tc.op, err, res[0].Err, res[0].ErrMessage)
		}
	}
	// Remove, and validate-only.
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{{Type: "client-id"}},
		Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Remove: true}}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	res, err = adm.ValidateAlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{{Type: "user"}},
		Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 10}}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	if got := describe(false); len(got) != 2 {
		t.Fatalf("after remove and validate-only: %v", got)
	}
	// Quotas are metadata: they survive a restart.
	b.Shutdown(context.Background())
	b = startBroker(t, dir)
	adm = kadm.NewClient(newClient(t, b))
	if got := describe(false); len(got) != 2 {
		t.Fatalf("after restart: %v", got)
	}
}

func errErrIs(err error, want *kerr.Error) bool { return err == want }

// A producer over its byte rate is slowed to it, within 10%.
func TestProduceQuotaSlowsProducer(t *testing.T) {
	const quota = 400_000 // bytes/s
	b := testBroker(t, "quota.window.num=2", "quota.window.size.seconds=1")
	ctx := ctxT(t)
	createTopic(t, b, "limited", 1, nil)
	adm := kadm.NewClient(newClient(t, b))
	setQuota(t, adm, kadm.ClientQuotaEntity{{Type: "client-id"}}, "producer_byte_rate", quota)

	cl := newClient(t, b, kgo.DefaultProduceTopic("limited"), kgo.ClientID("fast-producer"), kgo.ProducerLinger(0))
	start := time.Now()
	var measured, sent int
	var from time.Time
	const warmup, run = 2 * time.Second, 6 * time.Second
	batch := make([]*kgo.Record, 10)
	for time.Since(start) < run {
		for i := range batch {
			batch[i] = &kgo.Record{Value: noise(10_000)}
		}
		if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		sent += 100_000
		if from.IsZero() && time.Since(start) >= warmup {
			from, measured = time.Now(), sent
		}
	}
	rate := float64(sent-measured) / time.Since(from).Seconds()
	t.Logf("steady produce rate %.0f B/s (quota %d), %d bytes in all", rate, quota, sent)
	if math.Abs(rate-quota)/quota > 0.10 {
		t.Fatalf("producer at %.0f B/s with a quota of %d B/s", rate, quota)
	}
}

// A consumer over its byte rate is slowed to it, within 10%.
func TestFetchQuotaSlowsConsumer(t *testing.T) {
	const quota = 400_000
	b := testBroker(t, "quota.window.num=4", "quota.window.size.seconds=1")
	ctx := ctxT(t)
	createTopic(t, b, "backlog", 1, nil)
	p := newClient(t, b, kgo.DefaultProduceTopic("backlog"))
	for i := 0; i < 40; i++ {
		batch := make([]*kgo.Record, 10)
		for j := range batch {
			batch[j] = &kgo.Record{Value: noise(10_000)}
		}
		if err := p.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(p)
	setQuota(t, adm, kadm.ClientQuotaEntity{{Type: "client-id"}}, "consumer_byte_rate", quota)

	c := newClient(t, b, kgo.ConsumeTopics("backlog"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ClientID("fast-consumer"), kgo.FetchMaxBytes(50_000), kgo.FetchMaxPartitionBytes(50_000))
	start := time.Now()
	var got, measured int
	var from time.Time
	const warmup, run = 2 * time.Second, 6 * time.Second
	for time.Since(start) < run && got < 4_000_000 {
		fs := c.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) { got += len(r.Value) })
		if from.IsZero() && time.Since(start) >= warmup {
			from, measured = time.Now(), got
		}
	}
	rate := float64(got-measured) / time.Since(from).Seconds()
	t.Logf("steady fetch rate %.0f B/s (quota %d), %d bytes in all", rate, quota, got)
	if math.Abs(rate-quota)/quota > 0.10 {
		t.Fatalf("consumer at %.0f B/s with a quota of %d B/s", rate, quota)
	}
}

// rawConn sends requests on one connection, as a client that ignores
// throttle_time_ms would.
type rawConn struct {
	c  net.Conn
	mu sync.Mutex
	id int32
}

func (rc *rawConn) do(t *testing.T, req kmsg.Request) (kmsg.Response, time.Duration) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.id++
	var fm kmsg.RequestFormatter
	start := time.Now()
	if _, err := rc.c.Write(fm.AppendRequest(nil, req, rc.id)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(rc.c, size[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.c, body); err != nil {
		t.Fatal(err)
	}
	resp := req.ResponseKind()
	body = body[4:]
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	return resp, time.Since(start)
}

// Over request_percentage, responses carry a throttle and the connection is
// muted for it: the next request on it waits, whatever the client does.
func TestRequestQuotaThrottlesAndMutes(t *testing.T) {
	b := testBroker(t, "quota.window.num=2", "quota.window.size.seconds=1")
	createTopic(t, b, "busy", 1, nil)
	adm := kadm.NewClient(newClient(t, b))
	setQuota(t, adm, kadm.ClientQuotaEntity{{Type: "client-id"}}, "request_percentage", 0.1)

	nc, err := net.Dial("tcp", b.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	rc := &rawConn{c: nc}
	describe := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "busy"
	describe.Resources = append(describe.Resources, res)
	describe.SetVersion(4)
	var throttle time.Duration
	for i := 0; i < 200 && throttle == 0; i++ {
		resp, _ := rc.do(t, describe)
		throttle = time.Duration(resp.(*kmsg.DescribeConfigsResponse).ThrottleMillis) * time.Millisecond
	}
	if throttle == 0 {
		t.Fatal("no throttle after 200 requests at 0.1% of a thread")
	}
	// ApiVersions is exempt from the quota but not from the mute.
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "test", "1"
	_, took := rc.do(t, av)
	if took < throttle*8/10 {
		t.Fatalf("request after a %v throttle answered in %v", throttle, took)
	}
}
