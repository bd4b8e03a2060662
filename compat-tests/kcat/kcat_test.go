// Package kcat runs the kcat command line tool (librdkafka; Debian package
// kcat, installed by `make deps`) against a real potok process and checks
// its output byte for byte.
package kcat

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/potok-io/potok/compat-tests/harness"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) { harness.Main(m) }

// kcat runs kcat with stdin and returns its stdout and stderr; it fails the
// test if kcat is not installed. The context kills it after 60s.
func kcat(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	path, lerr := exec.LookPath("kcat")
	if lerr != nil {
		t.Fatalf("kcat is not installed (make deps installs it): %v", lerr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("kcat %v did not finish in 60s; stderr:\n%s", args, errb.String())
	}
	return out.String(), errb.String(), err
}

// mustKcat runs kcat and fails the test if it exits non-zero.
func mustKcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errs, err := kcat(t, stdin, args...)
	if err != nil {
		t.Fatalf("kcat %v: %v\nstderr:\n%s", args, err, errs)
	}
	return out
}

func checkOutput(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: output\n%s\nwant\n%s", what, got, want)
	}
}

// TestMetadata checks `kcat -L` line by line: the broker at its
// advertised address as controller, and each topic with its partitions.
func TestMetadata(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	harness.CreateTopic(t, b.Addr(), "alpha", 2, nil)
	harness.CreateTopic(t, b.Addr(), "beta", 1, nil)
	out := mustKcat(t, "", "-b", b.Addr(), "-L")
	want := fmt.Sprintf(`Metadata for all topics (from broker 1: %[1]s/1):
 1 brokers:
  broker 1 at %[1]s (controller)
 2 topics:
  topic "alpha" with 2 partitions:
    partition 0, leader 1, replicas: 1, isrs: 1
    partition 1, leader 1, replicas: 1, isrs: 1
  topic "beta" with 1 partitions:
    partition 0, leader 1, replicas: 1, isrs: 1
`, b.Addr())
	checkOutput(t, "kcat -L", out, want)

	out = mustKcat(t, "", "-b", b.Addr(), "-L", "-t", "beta")
	want = fmt.Sprintf(`Metadata for beta (from broker 1: %[1]s/1):
 1 brokers:
  broker 1 at %[1]s (controller)
 1 topics:
  topic "beta" with 1 partitions:
    partition 0, leader 1, replicas: 1, isrs: 1
`, b.Addr())
	checkOutput(t, "kcat -L -t beta", out, want)
}

var codecs = []struct {
	name string
	attr int8
}{
	{"none", harness.CodecNone},
	{"gzip", harness.CodecGzip},
	{"snappy", harness.CodecSnappy},
	{"lz4", harness.CodecLz4},
	{"zstd", harness.CodecZstd},
}

// TestProduceCodecs produces keyed lines with headers with `-z` each codec
// and reads them back with kcat's format string and with franz-go.
func TestProduceCodecs(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := harness.Topic(t, "")
			harness.CreateTopic(t, b.Addr(), topic, 1, nil)
			in := "k1:v1\nk2:v2 with spaces\n:empty key\nk4:\n" + strings.Repeat("k5:"+strings.Repeat("potok ", 500)+"\n", 3)
			mustKcat(t, in, "-b", b.Addr(), "-P", "-t", topic, "-p", "0", "-K:", "-z", c.name, "-H", "h1=a", "-H", "h2=b",
				"-X", "linger.ms=50")
			// librdkafka compresses with a codec only if the broker's
			// ApiVersions imply it (rdkafka_feature.c): gzip and snappy
			// need Produce v0 advertised, zstd Produce v7 and Fetch v10,
			// and lz4 FindCoordinator v0. Otherwise it sends the batch
			// uncompressed without an error.
			if got := harness.Codecs(t, b.Addr(), topic, 0); len(got) != 1 || got[c.attr] == 0 {
				t.Fatalf("stored batches by codec: %v, want all %s (%d)", got, c.name, c.attr)
			}
			out := mustKcat(t, "", "-b", b.Addr(), "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", "%k|%s|%o|%h\n")
			long := strings.Repeat("potok ", 500)
			want := "k1|v1|0|h1=a,h2=b\n" +
				"k2|v2 with spaces|1|h1=a,h2=b\n" +
				"|empty key|2|h1=a,h2=b\n" +
				"k4||3|h1=a,h2=b\n" +
				"k5|" + long + "|4|h1=a,h2=b\n" +
				"k5|" + long + "|5|h1=a,h2=b\n" +
				"k5|" + long + "|6|h1=a,h2=b\n"
			checkOutput(t, "kcat -C", out, want)
			hs := []harness.Header{{Key: "h1", Value: []byte("a")}, {Key: "h2", Value: []byte("b")}}
			wantRecs := []harness.Rec{
				{Key: []byte("k1"), Value: []byte("v1"), Headers: hs},
				{Key: []byte("k2"), Value: []byte("v2 with spaces"), Headers: hs},
				{Key: []byte{}, Value: []byte("empty key"), Headers: hs},
				{Key: []byte("k4"), Value: []byte{}, Headers: hs},
			}
			for i := 0; i < 3; i++ {
				wantRecs = append(wantRecs, harness.Rec{Key: []byte("k5"), Value: []byte(long), Headers: hs})
			}
			if d := harness.SameRecs(harness.FromKgo(harness.ReadPartition(t, b.Addr(), topic, 0)), wantRecs); d != "" {
				t.Fatalf("read with franz-go: %s", d)
			}
		})
	}
}

// TestProduceIdempotentAndAcks produces with enable.idempotence and with
// each acks setting (-X acks / request.required.acks).
func TestProduceIdempotentAndAcks(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	for _, tc := range []struct {
		name string
		x    []string
	}{
		{"acks0", []string{"-X", "acks=0"}},
		{"acks1", []string{"-X", "acks=1"}},
		{"acksall", []string{"-X", "acks=all"}},
		{"idempotent", []string{"-X", "enable.idempotence=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := harness.Topic(t, "")
			harness.CreateTopic(t, b.Addr(), topic, 1, nil)
			var in strings.Builder
			for i := 0; i < 100; i++ {
				fmt.Fprintf(&in, "line %d\n", i)
			}
			mustKcat(t, in.String(), append([]string{"-b", b.Addr(), "-P", "-t", topic, "-p", "0"}, tc.x...)...)
			var want strings.Builder
			for i := 0; i < 100; i++ {
				fmt.Fprintf(&want, "%d line %d\n", i, i)
			}
			var out string
			// acks=0: kcat exits once the records are sent, maybe before
			// the broker has appended them.
			harness.Eventually(t, 10*time.Second, func() error {
				out = mustKcat(t, "", "-b", b.Addr(), "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%o %s\n")
				if strings.Count(out, "\n") < 100 {
					return fmt.Errorf("%d lines", strings.Count(out, "\n"))
				}
				return nil
			})
			checkOutput(t, "kcat -C", out, want.String())
			if tc.name == "idempotent" {
				for _, bt := range harness.Batches(t, b.Addr(), topic, 0) {
					if bt.ProducerID < 0 || bt.Sequence != int32(bt.BaseOffset) {
						t.Fatalf("batch at %d: producer id %d sequence %d; want idempotent batches", bt.BaseOffset, bt.ProducerID, bt.Sequence)
					}
				}
			}
		})
	}
}

// TestManyPartitions produces keyed lines to a 32-partition topic with
// kcat's default partitioner and consumes all partitions to the end: every
// line comes back once, and each key stays in one partition.
func TestManyPartitions(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 32, nil)
	var in strings.Builder
	var want []string
	for i := 0; i < 320; i++ {
		fmt.Fprintf(&in, "key%d:value%d\n", i%64, i)
		want = append(want, fmt.Sprintf("key%d value%d", i%64, i))
	}
	mustKcat(t, in.String(), "-b", b.Addr(), "-P", "-t", topic, "-K:", "-z", "gzip")
	out := mustKcat(t, "", "-b", b.Addr(), "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%p %k %s\n")
	partOf := map[string]string{}
	var got []string
	lastValue := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("output line %q", line)
		}
		if p, ok := partOf[f[1]]; ok && p != f[0] {
			t.Fatalf("key %s in partitions %s and %s", f[1], p, f[0])
		}
		partOf[f[1]] = f[0]
		// Within a partition, a key's values come in the order sent.
		var v int
		fmt.Sscanf(f[2], "value%d", &v)
		if last, ok := lastValue[f[1]]; ok && v <= last {
			t.Fatalf("key %s: value%d after value%d", f[1], v, last)
		}
		lastValue[f[1]] = v
		got = append(got, f[1]+" "+f[2])
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("consumed %d lines, want %d (each once)", len(got), len(want))
	}
	used := map[string]bool{}
	for _, p := range partOf {
		used[p] = true
	}
	if len(used) < 16 {
		t.Errorf("64 keys landed in only %d of 32 partitions", len(used))
	}
}

// TestConsumeOffsets checks -o beginning, end, -N, an absolute offset and
// s@timestamp, with exact output, and -e exiting at the end.
func TestConsumeOffsets(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	cl := harness.Client(t, b.Addr())
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := 0; i < 5; i++ {
		r := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i),
			Timestamp: base.Add(time.Duration(i) * 100 * time.Millisecond)}
		if i == 2 {
			r.Headers = []kgo.RecordHeader{{Key: "x", Value: []byte("y")}}
		}
		if err := cl.ProduceSync(harness.Ctx(t, 10*time.Second), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	format := "%p %o %T %k=%s %h\n"
	line := func(i int) string {
		h := ""
		if i == 2 {
			h = "x=y"
		}
		return fmt.Sprintf("0 %d %d k%d=v%d %s\n", i, base.Add(time.Duration(i)*100*time.Millisecond).UnixMilli(), i, i, h)
	}
	lines := func(from, to int) string {
		var s string
		for i := from; i < to; i++ {
			s += line(i)
		}
		return s
	}
	for _, tc := range []struct {
		offset string
		want   string
	}{
		{"beginning", lines(0, 5)},
		{"end", ""},
		{"-2", lines(3, 5)},
		{"3", lines(3, 5)},
		{fmt.Sprintf("s@%d", base.Add(150*time.Millisecond).UnixMilli()), lines(2, 5)},
		{fmt.Sprintf("s@%d", base.UnixMilli()), lines(0, 5)},
	} {
		out := mustKcat(t, "", "-b", b.Addr(), "-C", "-t", topic, "-p", "0", "-o", tc.offset, "-e", "-f", format)
		checkOutput(t, "-o "+tc.offset, out, tc.want)
	}
	// -Q: offsets for timestamps (ListOffsets by time).
	out := mustKcat(t, "", "-b", b.Addr(), "-Q", "-t", fmt.Sprintf("%s:0:%d", topic, base.Add(250*time.Millisecond).UnixMilli()))
	checkOutput(t, "-Q", out, fmt.Sprintf("%s [0] offset 3\n", topic))
	// -c: at most N messages; e@: stop at a timestamp.
	out = mustKcat(t, "", "-b", b.Addr(), "-C", "-t", topic, "-o", "beginning", "-c", "2", "-f", format)
	checkOutput(t, "-c 2", out, lines(0, 2))
	out = mustKcat(t, "", "-b", b.Addr(), "-C", "-t", topic, "-o", "s@"+fmt.Sprint(base.Add(100*time.Millisecond).UnixMilli()),
		"-o", "e@"+fmt.Sprint(base.Add(300*time.Millisecond).UnixMilli()), "-f", format)
	checkOutput(t, "s@+100ms e@+300ms", out, lines(1, 3))
}

// TestErrors checks what kcat reports for a missing topic (auto-creation
// off) and for a message over max.message.bytes.
func TestErrors(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	missing := harness.Topic(t, "missing")
	// librdkafka waits topic.metadata.propagation.max.ms (30s) for a
	// missing topic to appear before failing its messages.
	_, errs, err := kcat(t, "v\n", "-b", b.Addr(), "-P", "-t", missing, "-X", "topic.metadata.propagation.max.ms=1000")
	if err == nil || !strings.Contains(errs, "Delivery failed for message: Broker: Unknown topic or partition") {
		t.Errorf("producing to a missing topic: %v, stderr:\n%s", err, errs)
	}
	_, errs, err = kcat(t, "", "-b", b.Addr(), "-C", "-t", missing, "-e")
	if err == nil || !strings.Contains(errs, "Broker: Unknown topic or partition") {
		t.Errorf("consuming a missing topic: %v, stderr:\n%s", err, errs)
	}

	topic := harness.Topic(t, "")
	limit := "10000"
	harness.CreateTopic(t, b.Addr(), topic, 1, map[string]*string{"max.message.bytes": &limit})
	_, errs, err = kcat(t, strings.Repeat("x", 20000)+"\n", "-b", b.Addr(), "-P", "-t", topic, "-z", "none")
	if err == nil || !strings.Contains(errs, "Delivery failed for message: Broker: Message size too large") {
		t.Errorf("producing 20000 bytes to a topic with max.message.bytes=10000: %v, stderr:\n%s", err, errs)
	}
	mustKcat(t, strings.Repeat("x", 9000)+"\n", "-b", b.Addr(), "-P", "-t", topic, "-z", "none")
	out := mustKcat(t, "", "-b", b.Addr(), "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%o %S\n")
	checkOutput(t, "after the rejected message", out, "0 9000\n")
}

// TestLargeMessage produces a message near the default max.message.bytes
// (1048588) with kcat's client limit raised, then one over it.
func TestLargeMessage(t *testing.T) {
	b := harness.Start(t, harness.Options{})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	mustKcat(t, strings.Repeat("a", 1048588-200)+"\n", "-b", b.Addr(), "-P", "-t", topic, "-z", "none", "-X", "message.max.bytes=4000000")
	_, errs, err := kcat(t, strings.Repeat("b", 1048588)+"\n", "-b", b.Addr(), "-P", "-t", topic, "-z", "none", "-X", "message.max.bytes=4000000")
	if err == nil || !strings.Contains(errs, "Message size too large") {
		t.Errorf("producing 1048588 bytes: %v, stderr:\n%s", err, errs)
	}
	out := mustKcat(t, "", "-b", b.Addr(), "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%o %S\n",
		"-X", "fetch.message.max.bytes=65536")
	checkOutput(t, "large message read with a 64 KiB partition fetch limit", out, fmt.Sprintf("0 %d\n", 1048588-200))
}
