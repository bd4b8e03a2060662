package harness

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// These helpers use franz-go as the reference client: tests of other
// clients create their topics and check what those clients wrote with it.

// Client returns a franz-go client for addr, closed when the test ends.
func Client(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client for addr, closed when the test ends.
func Admin(t testing.TB, addr string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(Client(t, addr))
}

// Ctx returns a context that ends with the test or after d.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var nonTopic = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// Topic returns a topic name unique to the test and suffix.
func Topic(t testing.TB, suffix string) string {
	name := nonTopic.ReplaceAllString(t.Name(), "-")
	if suffix != "" {
		name += "-" + suffix
	}
	return strings.ToLower(name)
}

// CreateTopic creates a topic with franz-go and fails the test on error.
func CreateTopic(t testing.TB, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := Admin(t, addr).CreateTopic(Ctx(t, 10*time.Second), partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating topic %s: %v", topic, err)
	}
}

// ReadPartition reads every record of one partition, from the log start to
// the high watermark as it is when called, with franz-go.
func ReadPartition(t testing.TB, addr, topic string, partition int32) []*kgo.Record {
	t.Helper()
	ctx := Ctx(t, 30*time.Second)
	adm := Admin(t, addr)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("ListEndOffsets %s: %v", topic, err)
	}
	end, ok := ends.Lookup(topic, partition)
	if !ok || end.Err != nil {
		t.Fatalf("ListEndOffsets %s/%d: %v (found %v)", topic, partition, end.Err, ok)
	}
	if end.Offset == 0 {
		return nil
	}
	cl := Client(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {partition: kgo.NewOffset().AtStart()},
	}), kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(64<<20))
	var out []*kgo.Record
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s/%d: got %d records up to offset %d, want up to offset %d: %v",
				topic, partition, len(out), lastOffset(out), end.Offset-1, ctx.Err())
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("reading %s/%d: %v", topic, partition, err)
		}
		out = append(out, fs.Records()...)
		if len(out) > 0 && out[len(out)-1].Offset >= end.Offset-1 {
			return out
		}
	}
}

func lastOffset(rs []*kgo.Record) int64 {
	if len(rs) == 0 {
		return -1
	}
	return rs[len(rs)-1].Offset
}

// Rec is a record reduced to what the tests compare: key and value with
// nil kept distinct from empty, and the headers in order.
type Rec struct {
	Key, Value []byte
	Headers    []Header
}

// Header is one record header; a nil Value is a null header value.
type Header struct {
	Key   string
	Value []byte
}

func (r Rec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{key=%s value=%s", showBytes(r.Key), showBytes(r.Value))
	for _, h := range r.Headers {
		fmt.Fprintf(&b, " %s=%s", h.Key, showBytes(h.Value))
	}
	b.WriteString("}")
	return b.String()
}

func showBytes(b []byte) string {
	switch {
	case b == nil:
		return "<null>"
	case len(b) > 64:
		return fmt.Sprintf("%q...(%d bytes)", b[:32], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// FromKgo reduces franz-go records to Recs.
func FromKgo(rs []*kgo.Record) []Rec {
	out := make([]Rec, len(rs))
	for i, r := range rs {
		out[i] = Rec{Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			out[i].Headers = append(out[i].Headers, Header{Key: h.Key, Value: h.Value})
		}
	}
	return out
}

// SameRecs reports the first difference between got and want, nil kept
// distinct from empty; "" means equal.
func SameRecs(got, want []Rec) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d records, want %d\ngot:  %v\nwant: %v", len(got), len(want), got, want)
	}
	for i := range got {
		if !sameRec(got[i], want[i]) {
			return fmt.Sprintf("record %d: got %v, want %v", i, got[i], want[i])
		}
	}
	return ""
}

func sameRec(a, b Rec) bool {
	if !sameBytes(a.Key, b.Key) || !sameBytes(a.Value, b.Value) || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !sameBytes(a.Headers[i].Value, b.Headers[i].Value) {
			return false
		}
	}
	return true
}

// sameBytes is bytes.Equal that also tells nil from empty.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// CheckPartitions reads every partition of topic with franz-go and
// compares the values, in offset order, with want[partition].
func CheckPartitions(t testing.TB, addr, topic string, want map[int32][]string) {
	t.Helper()
	for p, vals := range want {
		var got []string
		for _, r := range ReadPartition(t, addr, topic, p) {
			got = append(got, string(r.Value))
		}
		if strings.Join(got, ",") != strings.Join(vals, ",") {
			t.Fatalf("partition %d holds %v, want %v", p, got, vals)
		}
	}
}
