package broker

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPageCacheTail keeps only 64 KiB of each partition in the page cache
// behind its last fsync, then has a consumer read everything from the
// start: the records are what was produced, in order, and reads went
// around the page cache.
func TestPageCacheTail(t *testing.T) {
	b := testBroker(t, "potok.log.page.cache.tail.bytes=65536")
	const topic, parts, n = "tail", 2, 6000
	createTopic(t, b, topic, parts, nil)
	p := newClient(t, b, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := func(i int) []byte {
		return append([]byte(fmt.Sprintf("%08d:", i)), bytes.Repeat([]byte{byte('a' + i%26)}, 2000)...)
	}
	for from := 0; from < n; from += 500 {
		var recs []*kgo.Record
		for i := from; i < from+500; i++ {
			recs = append(recs, &kgo.Record{Partition: int32(i % parts), Value: value(i)})
		}
		if err := p.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got := consume(t, b, topic, n, kgo.FetchMaxPartitionBytes(256<<10))
	if len(got) != n {
		t.Fatalf("consumed %d records, produced %d", len(got), n)
	}
	next := [parts]int{0, 1}
	for _, r := range got {
		want := next[r.Partition]
		if !bytes.Equal(r.Value, value(want)) {
			t.Fatalf("partition %d offset %d: %.12q, want record %d", r.Partition, r.Offset, r.Value, want)
		}
		next[r.Partition] += parts
	}
	if b.logs.DirectReads() == 0 {
		t.Fatal("no read went around the page cache")
	}
}
