// Package fulldisk runs the real binary on a small tmpfs that fills up, is
// remounted read-only, and frees space again. It needs to mount (root, or
// CAP_SYS_ADMIN); where mounting is not permitted the tests skip.
package fulldisk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/potok-io/potok/compat-tests/harness"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMain(m *testing.M) { harness.Main(m) }

// tmpfs mounts a tmpfs of size bytes on a new directory and unmounts it
// when the test ends (after the broker is killed: cleanups run last in,
// first out, so mount before starting the broker).
func tmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func remount(t *testing.T, dir, mode string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v %s", dir, mode, err, out)
	}
}

// producer sends batches of random 64 KiB values to partition 0 with
// acks=all and no retries, so every outcome is seen.
type producer struct {
	t     *testing.T
	cl    *kgo.Client
	topic string
	acked [][]byte // in order
	n     int
}

// send produces one batch of four records and returns its error code.
func (p *producer) send() int16 {
	p.t.Helper()
	var vals [][]byte
	for range 4 {
		v := make([]byte, 64<<10)
		rand.Read(v)
		copy(v, fmt.Sprintf("%08d", p.n))
		p.n++
		vals = append(vals, v)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = p.topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch(vals)
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	resp, err := req.RequestWith(harness.Ctx(p.t, 20*time.Second), p.cl)
	if err != nil {
		p.t.Fatalf("produce: %v", err)
	}
	code := resp.Topics[0].Partitions[0].ErrorCode
	if code == 0 {
		p.acked = append(p.acked, vals...)
	}
	return code
}

// check reads the partition and requires exactly the acknowledged values,
// in order: nothing lost, nothing half-written, nothing twice.
func (p *producer) check(addr, when string) {
	p.t.Helper()
	recs := harness.ReadPartition(p.t, addr, p.topic, 0)
	if len(recs) != len(p.acked) {
		p.t.Fatalf("%s: %d records stored, %d acknowledged", when, len(recs), len(p.acked))
	}
	for i, r := range recs {
		if !bytes.Equal(r.Value, p.acked[i]) {
			p.t.Fatalf("%s: record %d is %.8q, acknowledged %.8q", when, i, r.Value, p.acked[i])
		}
	}
}

// TestFullTmpfs: a broker on a 48 MiB tmpfs is filled until appends fail.
// Producers get KAFKA_STORAGE_ERROR, consumers read exactly what was
// acknowledged, the broker's log says the disk is full, appends resume when
// space is freed, and a SIGKILL and restart lose nothing acknowledged.
func TestFullTmpfs(t *testing.T) {
	mnt := tmpfs(t, 48<<20)
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 16<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	b := harness.Start(t, harness.Options{ErrorsExpected: true, Settings: map[string]string{
		"log.dirs": filepath.Join(mnt, "data"), "log.segment.bytes": fmt.Sprint(4 << 20)}})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	p := &producer{t: t, cl: harness.Client(t, b.Addr()), topic: topic}
	var code int16
	for range 200 {
		if code = p.send(); code != 0 {
			break
		}
	}
	t.Logf("%d records of 64 KiB acknowledged before the disk filled; then %v", len(p.acked), kerr.ErrorForCode(code))
	if code != kerr.KafkaStorageError.Code {
		t.Fatalf("appends on a full disk: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code))
	}
	for range 3 {
		if code := p.send(); code != kerr.KafkaStorageError.Code {
			t.Fatalf("append on a still full disk: %v", kerr.ErrorForCode(code))
		}
	}
	p.check(b.Addr(), "on a full disk")
	if !strings.Contains(b.Log(), "no space left on device") {
		t.Fatal("the broker's log does not say the disk is full")
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	before := len(p.acked)
	for range 10 {
		if code := p.send(); code != 0 {
			t.Fatalf("append after space was freed: %v", kerr.ErrorForCode(code))
		}
	}
	t.Logf("after freeing 16 MiB: %d more records acknowledged", len(p.acked)-before)
	p.check(b.Addr(), "after space was freed")

	b.Kill()
	b.Restart()
	p.check(b.Addr(), "after SIGKILL and restart")
}

// TestReadOnlyDataDirectory: a broker started on a data directory whose
// filesystem is read-only refuses to start and names the directory and
// the reason; once writable again it starts with its data intact. (A
// filesystem cannot be remounted read-only while the broker holds files
// open for writing, so the running case is covered on the fault seam.)
func TestReadOnlyDataDirectory(t *testing.T) {
	mnt := tmpfs(t, 64<<20)
	data := filepath.Join(mnt, "data")
	b := harness.Start(t, harness.Options{Settings: map[string]string{"log.dirs": data}})
	topic := harness.Topic(t, "")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	p := &producer{t: t, cl: harness.Client(t, b.Addr()), topic: topic}
	for range 5 {
		if code := p.send(); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	}
	b.Stop()
	remount(t, mnt, "ro")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), "serve", "--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", data)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POTOK_") { // potok reads POTOK_* as settings
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	t.Logf("starting on a read-only directory: %v: %s", err, strings.TrimSpace(string(out)))
	remount(t, mnt, "rw")
	if err == nil || ctx.Err() != nil {
		t.Fatal("the broker started on a read-only data directory")
	}
	if !strings.Contains(string(out), data) || !strings.Contains(string(out), "read-only file system") {
		t.Fatal("the error does not name the directory and the reason")
	}
	b.Restart()
	p.check(b.Addr(), "restarted on a writable directory")
}

// batch encodes values as one uncompressed record batch (magic 2) with no
// producer id.
func batch(values [][]byte) []byte {
	var recs []byte
	for i, v := range values {
		var body []byte
		body = append(body, 0)                     // attributes
		body = binary.AppendVarint(body, 0)        // timestamp delta
		body = binary.AppendVarint(body, int64(i)) // offset delta
		body = binary.AppendVarint(body, -1)       // null key
		body = binary.AppendVarint(body, int64(len(v)))
		body = append(body, v...)
		body = binary.AppendVarint(body, 0) // no headers
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	now := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(values) - 1),
		FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(values)), Records: recs}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}
