package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/potok-io/potok/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testBroker starts a broker on a free port in a temporary directory.
func testBroker(t testing.TB, settings ...string) *Broker {
	t.Helper()
	return startBroker(t, t.TempDir(), settings...)
}

func startBroker(t testing.TB, dir string, settings ...string) *Broker {
	t.Helper()
	v := config.Values{"log.dirs": dir, "listeners": "PLAINTEXT://127.0.0.1:0"}
	for _, kv := range settings {
		k, val, _ := strings.Cut(kv, "=")
		v[k] = val
	}
	var logger *slog.Logger
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := New(Options{Settings: v, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	return b
}

func (b *Broker) addr() string { return b.Addr("").String() }

func newClient(t testing.TB, b *Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr()), kgo.MetadataMinAge(50 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t testing.TB, b *Broker, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, b))
	resp, err := adm.CreateTopic(ctxT(t), partitions, 1, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", name, err, resp.Err)
	}
}

// consume reads n records from the start of topic.
func consume(t testing.TB, b *Broker, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := newClient(t, b, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	var out []*kgo.Record
	ctx := ctxT(t)
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func TestProduceConsumeEveryCodec(t *testing.T) {
	b := testBroker(t)
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "codec-" + name
			createTopic(t, b, topic, 3, nil)
			p := newClient(t, b, kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic))
			const n = 500
			var want []*kgo.Record
			for i := 0; i < n; i++ {
				r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(strings.Repeat(fmt.Sprint(i), 20)),
					Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(name)}}}
				want = append(want, r)
			}
			if err := p.ProduceSync(ctxT(t), want...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			got := consume(t, b, topic, n)
			if len(got) != n {
				t.Fatalf("got %d records", len(got))
			}
			seen := map[string]bool{}
			for _, r := range got {
				if len(r.Headers) != 1 || string(r.Headers[0].Value) != name {
					t.Fatalf("headers lost: %+v", r.Headers)
				}
				seen[string(r.Key)+"="+string(r.Value)] = true
			}
			for _, r := range want {
				if !seen[string(r.Key)+"="+string(r.Value)] {
					t.Fatalf("record %s missing", r.Key)
				}
			}
		})
	}
}

// request sends req at exactly its version on a fresh connection and
// decodes the response (kgo would raise the version to the broker's max).
func request[R kmsg.Response](t testing.TB, b *Broker, req kmsg.Request) R {
	t.Helper()
	c, err := net.Dial("tcp", b.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var fm kmsg.RequestFormatter
	if _, err := c.Write(fm.AppendRequest(nil, req, 1)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	resp := req.ResponseKind()
	body = body[4:]
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:] // empty header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	return resp.(R)
}

// TestShutdownAnswersLongPolls checks that a fetch waiting for data does not
// hold the shutdown for its max_wait_ms.
func TestShutdownAnswersLongPolls(t *testing.T) {
	b := testBroker(t)
	createTopic(t, b, "idle", 1, nil)
	c := newClient(t, b, kgo.ConsumeTopics("idle"), kgo.FetchMaxWait(30*time.Second))
	go c.PollFetches(context.Background())
	eventually(t, 5*time.Second, "a fetch waiting on the partition", func() error {
		p := b.topic("idle").partition(0)
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.fetches) == 0 {
			return fmt.Errorf("no waiting fetch")
		}
		return nil
	})
	start := time.Now()
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %v with a 30 s long poll open", took)
	}
}
