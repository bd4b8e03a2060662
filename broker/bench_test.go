package broker

// Benchmarks of the produce and fetch paths through a real connection:
// framing, decoding, the handler, the log and the response, as a client
// sees them. The client side sends pre-encoded frames and reads responses
// into one buffer, so allocs/op are the broker's own.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// frameConn sends encoded requests and reads whole response frames.
type frameConn struct {
	c   net.Conn
	buf []byte
}

func dialFrames(t testing.TB, b *Broker) *frameConn {
	t.Helper()
	c, err := net.Dial("tcp", b.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &frameConn{c: c, buf: make([]byte, 1<<20)}
}

// roundTrip writes frame and returns the response body after the
// correlation id (valid until the next call).
func (r *frameConn) roundTrip(t testing.TB, frame []byte) []byte {
	if _, err := r.c.Write(frame); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r.c, r.buf[:4]); err != nil {
		t.Fatal(err)
	}
	n := int(binary.BigEndian.Uint32(r.buf))
	if n > len(r.buf) {
		r.buf = make([]byte, n)
	}
	if _, err := io.ReadFull(r.c, r.buf[:n]); err != nil {
		t.Fatal(err)
	}
	return r.buf[4:n]
}

func encodeRequest(req kmsg.Request) []byte {
	var f kmsg.RequestFormatter
	return f.AppendRequest(nil, req, 1)
}

// benchBatch builds a batch of n records of size value bytes; pid < 0 means
// no producer id.
func benchBatch(t testing.TB, n, size int, pid int64) []byte {
	t.Helper()
	recs := make([]records.Record, n)
	val := bytes.Repeat([]byte("v"), size)
	for i := range recs {
		recs[i] = records.Record{OffsetDelta: int32(i), Value: val}
	}
	h := records.BatchHeader{BaseTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli()}
	if pid < 0 {
		h.NoProducer()
	} else {
		h.ProducerID, h.ProducerEpoch = pid, 0
	}
	data, err := records.AppendBatch(nil, h, records.CodecNone, recs)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// produceFrame encodes a Produce v9 request with one batch per partition
// and returns the frame and the positions of the batches in it.
func produceFrame(topic string, acks int16, batches [][]byte) ([]byte, []int) {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = acks, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for i, batch := range batches {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = int32(i)
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	frame := encodeRequest(req)
	var at []int
	from := 0
	for _, batch := range batches {
		i := bytes.Index(frame[from:], batch)
		at = append(at, from+i)
		from += i + len(batch)
	}
	return frame, at
}

// checkProduced decodes a Produce response body and fails on any error.
func checkProduced(t testing.TB, body []byte) {
	t.Helper()
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(9)
	// Flexible responses carry a tag section after the correlation id.
	if err := resp.ReadFrom(body[1:]); err != nil {
		t.Fatal(err)
	}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
			}
		}
	}
}

// setSequence rewrites a batch's base sequence and CRC in place.
func setSequence(batch []byte, seq int32) {
	binary.BigEndian.PutUint32(batch[53:], uint32(seq))
	binary.BigEndian.PutUint32(batch[17:], records.Batch(batch).ComputeCRC())
}

// BenchmarkProduce sends one produce request at a time: 1 or 16 partitions,
// each with a batch of 16 records of 1 KiB; acks=1 (answered after the
// write) or acks=all (after fdatasync); idempotent or not.
func BenchmarkProduce(b *testing.B) {
	for _, parts := range []int{1, 16} {
		for _, acks := range []int16{1, -1} {
			for _, idem := range []bool{false, true} {
				name := fmt.Sprintf("partitions=%d/acks=%d/idempotent=%v", parts, acks, idem)
				b.Run(name, func(b *testing.B) { benchProduce(b, parts, acks, idem) })
			}
		}
	}
}

func benchProduce(b *testing.B, parts int, acks int16, idem bool) {
	br := testBroker(b, "log.retention.bytes=268435456", "log.segment.bytes=67108864")
	createTopic(b, br, "bench", int32(parts), nil)
	var pid int64 = -1
	if idem {
		pid = initProducerID(b, br)
	}
	const n, size = 16, 1024
	batches := make([][]byte, parts)
	for i := range batches {
		batches[i] = benchBatch(b, n, size, pid)
	}
	frame, at := produceFrame("bench", acks, batches)
	c := dialFrames(b, br)
	seq := int32(0)
	send := func() []byte {
		if idem {
			for _, pos := range at {
				setSequence(frame[pos:pos+len(batches[0])], seq)
			}
			seq += n
		}
		return c.roundTrip(b, frame)
	}
	for i := 0; i < 200; i++ { // warm up: files, maps, pools
		checkProduced(b, send())
	}
	b.SetBytes(int64(parts * n * size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		send()
	}
	b.StopTimer()
	checkProduced(b, send())
}

func initProducerID(t testing.TB, b *Broker) int64 {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	resp := request[*kmsg.InitProducerIDResponse](t, b, req)
	if resp.ErrorCode != 0 {
		t.Fatalf("InitProducerID: %d", resp.ErrorCode)
	}
	return resp.ProducerID
}

// BenchmarkFetch reads a warm log from the start over and over, one fetch
// at a time, 1 or 16 partitions of up to 1 MiB each (the records are
// 16-record batches of 1 KiB, as in BenchmarkProduce).
func BenchmarkFetch(b *testing.B) {
	for _, parts := range []int{1, 16} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) { benchFetch(b, parts) })
	}
}

func benchFetch(b *testing.B, parts int) {
	br := testBroker(b)
	createTopic(b, br, "bench", int32(parts), nil)
	batches := make([][]byte, parts)
	for i := range batches {
		batches[i] = benchBatch(b, 16, 1024, -1)
	}
	frame, _ := produceFrame("bench", -1, batches)
	c := dialFrames(b, br)
	const perPartition = 8 << 20
	for i := 0; i < perPartition/(16*1024); i++ {
		checkProduced(b, c.roundTrip(b, frame))
	}
	id := topicID(b, br, "bench")
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(13)
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 64<<20
	req.SessionEpoch = -1 // no session: every fetch is a full one
	rt := kmsg.NewFetchRequestTopic()
	rt.TopicID = id
	const sentinel = 0x5eed_0000_0000_0000
	for p := 0; p < parts; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = int32(p), sentinel+int64(p), 1<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	fetch := encodeRequest(req)
	// The offsets sit at fixed places in the frame: move them along the
	// log so that every fetch reads other data (from the page cache).
	var offAt []int
	for p := 0; p < parts; p++ {
		var key [8]byte
		binary.BigEndian.PutUint64(key[:], uint64(sentinel+int64(p)))
		offAt = append(offAt, bytes.Index(fetch, key[:]))
	}
	total := int64(perPartition / (16 * 1024) * 16) // records per partition
	off := int64(0)
	var got int64
	step := int64(1<<20/(16*1024+61)) * 16
	b.ReportAllocs()
	b.ResetTimer()
	for _, at := range offAt {
		binary.BigEndian.PutUint64(fetch[at:], 0)
	}
	if n := len(c.roundTrip(b, fetch)); n < parts*1000 {
		b.Fatalf("first fetch answered %d bytes", n)
	}
	for i := 0; i < b.N; i++ {
		for _, at := range offAt {
			binary.BigEndian.PutUint64(fetch[at:], uint64(off))
		}
		got += int64(len(c.roundTrip(b, fetch)))
		if off += step; off >= total-step {
			off = 0
		}
	}
	b.SetBytes(got / int64(b.N))
}

func topicID(t testing.TB, b *Broker, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12) // topic ids
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp := request[*kmsg.MetadataResponse](t, b, req)
	if resp.Topics[0].TopicID == ([16]byte{}) {
		t.Fatalf("no topic id for %s", topic)
	}
	return resp.Topics[0].TopicID
}
