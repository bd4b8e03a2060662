package broker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/potok-io/potok/config"
	"github.com/potok-io/potok/logstore"
	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// lockedBuffer collects a broker's log for the test to read.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startFaultBroker starts a broker whose logs go through a fault-injecting
// filesystem over the OS one, with its log in logs.
func startFaultBroker(t *testing.T, dir string, logs *lockedBuffer) (*Broker, *logstore.FaultFS) {
	t.Helper()
	ffs := logstore.NewFaultFS(logstore.OSFS())
	b, err := New(Options{
		Settings: config.Values{"log.dirs": dir, "listeners": "PLAINTEXT://127.0.0.1:0", "auto.create.topics.enable": "false"},
		FS:       ffs,
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	return b, ffs
}

// produceRaw sends one batch of values to partition 0 with acks=all and no
// retries, and returns the partition's error code.
func produceRaw(t *testing.T, cl *kgo.Client, topic string, values ...string) int16 {
	t.Helper()
	return produceRawTimeout(t, cl, topic, 10000, values...)
}

func produceRawTimeout(t *testing.T, cl *kgo.Client, topic string, timeoutMs int32, values ...string) int16 {
	t.Helper()
	var recs []kgo.Record
	for _, v := range values {
		recs = append(recs, kgo.Record{Value: []byte(v)})
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, timeoutMs
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = rawBatch(recs)
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// rawBatch encodes records as one uncompressed batch with no producer id.
func rawBatch(recs []kgo.Record) []byte {
	h := records.BatchHeader{BaseTimestamp: time.Now().UnixMilli(), PartitionLeaderEpoch: -1}
	h.NoProducer()
	var rs []records.Record
	for i, r := range recs {
		rs = append(rs, records.Record{OffsetDelta: int32(i), Value: r.Value})
	}
	b, err := records.AppendBatch(nil, h, records.CodecNone, rs)
	if err != nil {
		panic("BUG: " + err.Error())
	}
	return b
}

// readValues reads every record of partition 0 from the start to the high
// watermark.
func readValues(t *testing.T, b *Broker, topic string) []string {
	t.Helper()
	adm := newClient(t, b)
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{lp}
	lo.Topics = []kmsg.ListOffsetsRequestTopic{lt}
	resp, err := lo.RequestWith(ctxT(t), adm)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("list offsets: %v %+v", err, resp)
	}
	end := resp.Topics[0].Partitions[0].Offset
	var out []string
	for _, r := range consume(t, b, topic, int(end)) {
		out = append(out, string(r.Value))
	}
	return out
}

// TestFullDiskThroughTheBroker: ENOSPC on append (the fault seam's full
// disk writes half of what it is given, then fails) answers producers with
// KAFKA_STORAGE_ERROR; consumers keep reading; the half-written batch never
// becomes visible; an idempotent producer retrying through the outage lands
// each record exactly once when space returns; and everything is there
// after a restart.
func TestFullDiskThroughTheBroker(t *testing.T) {
	for _, target := range []string{".log", ".index", ""} {
		t.Run("fault on "+map[string]string{".log": "segments", ".index": "indexes", "": "every file"}[target], func(t *testing.T) {
			dir := t.TempDir()
			var logs lockedBuffer
			b, ffs := startFaultBroker(t, dir, &logs)
			// An index entry for every batch, so index faults are hit.
			interval := "1"
			createTopic(t, b, "full", 1, map[string]*string{"index.interval.bytes": &interval})
			raw := newClient(t, b)
			var want []string
			for i := range 20 {
				v := fmt.Sprintf("before-%d", i)
				if code := produceRaw(t, raw, "full", v); code != 0 {
					t.Fatalf("produce before the disk filled: %v", kerr.ErrorForCode(code))
				}
				want = append(want, v)
			}

			ffs.SetFault(logstore.FaultNoSpace, target)
			for i := range 5 {
				code := produceRaw(t, raw, "full", fmt.Sprintf("refused-%d", i), "second record of the batch")
				if code != kerr.KafkaStorageError.Code {
					t.Fatalf("produce on a full disk: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code))
				}
			}
			if ffs.Hits() == 0 {
				t.Fatal("the fault was never hit")
			}
			// Reads keep working and see exactly what was acknowledged.
			if got := readValues(t, b, "full"); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("on a full disk, the log reads %v", got)
			}
			if !strings.Contains(logs.String(), "no space left on device") {
				t.Fatalf("the broker's log does not say the disk is full:\n%s", logs.String())
			}

			// An idempotent producer keeps retrying through the outage.
			ffs.SetFault(logstore.FaultNoSpace, target) // counts hits from 0
			idem := newClient(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
			var wg sync.WaitGroup
			errs := make([]error, 10)
			for i := range 10 {
				v := fmt.Sprintf("retried-%d", i)
				want = append(want, v)
				wg.Add(1)
				idem.Produce(ctxT(t), &kgo.Record{Topic: "full", Value: []byte(v)}, func(_ *kgo.Record, err error) {
					errs[i] = err
					wg.Done()
				})
			}
			eventually(t, 10*time.Second, "the idempotent producer's retries to hit the full disk", func() error {
				if ffs.Hits() < 3 {
					return fmt.Errorf("%d faults", ffs.Hits())
				}
				return nil
			})
			ffs.Clear() // space returns
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("retried-%d: %v", i, err)
				}
			}
			if code := produceRaw(t, raw, "full", "after"); code != 0 {
				t.Fatalf("produce after space returned: %v", kerr.ErrorForCode(code))
			}
			want = append(want, "after")
			if got := readValues(t, b, "full"); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("after the outage the log reads\n%v\nwant\n%v", got, want)
			}

			// Nothing changes across a restart (recovery sees no torn
			// batch either).
			if err := b.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			b2, _ := startFaultBroker(t, dir, &logs)
			if got := readValues(t, b2, "full"); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("after a restart the log reads\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// TestVanishedDataDirectory: a partition directory removed under a running
// broker still takes writes and syncs into the deleted files, which a
// restart would not find. Nothing written after the removal is
// acknowledged (acks=all waits for a sync that now fails), reads keep
// serving what was there, and the broker's log names the missing file.
func TestVanishedDataDirectory(t *testing.T) {
	dir := t.TempDir()
	var logs lockedBuffer
	b, _ := startFaultBroker(t, dir, &logs)
	createTopic(t, b, "gone", 1, nil)
	raw := newClient(t, b)
	if code := produceRaw(t, raw, "gone", "before"); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	if err := os.RemoveAll(dir + "/gone-0"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		code := produceRawTimeout(t, raw, "gone", 500, fmt.Sprintf("after-%d", i))
		t.Logf("produce after the directory was removed: %v", kerr.ErrorForCode(code))
		if code == 0 {
			t.Fatal("an append into a removed directory was acknowledged")
		}
	}
	if got := readValues(t, b, "gone"); strings.Join(got, ",") != "before" {
		t.Fatalf("the log reads %v", got)
	}
	if !strings.Contains(logs.String(), "gone-0/00000000000000000000.log was removed") {
		t.Fatalf("the log does not name the missing file:\n%s", logs.String())
	}
}
