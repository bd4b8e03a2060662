package protocol

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceBodies are valid Produce bodies of every version, for seeds.
func produceBodies() (out []struct {
	version int16
	body    []byte
}) {
	for v := int16(0); v <= kmsg.NewPtrProduceRequest().MaxVersion(); v++ {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(v)
		if v >= 3 && v%2 == 1 {
			req.TransactionID = kmsg.StringPtr("txn")
		}
		req.Acks, req.TimeoutMillis = -1, 1234
		for t := 0; t < 2; t++ {
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = fmt.Sprint("topic-", t)
			rt.TopicID = [16]byte{byte(t + 1)}
			for p := 0; p < 3; p++ {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition = int32(p)
				switch p {
				case 0:
					rp.Records = bytes.Repeat([]byte{byte(t)}, 70)
				case 1:
					rp.Records = []byte{}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		out = append(out, struct {
			version int16
			body    []byte
		}{v, req.AppendTo(nil)})
	}
	return out
}

// sameProduce compares a hand-decoded request with kmsg's.
func sameProduce(t *testing.T, got *kmsg.ProduceRequest, want *kmsg.ProduceRequest) {
	t.Helper()
	if (got.TransactionID == nil) != (want.TransactionID == nil) ||
		got.TransactionID != nil && *got.TransactionID != *want.TransactionID {
		t.Fatalf("transactional id %v, want %v", got.TransactionID, want.TransactionID)
	}
	if got.Acks != want.Acks || got.TimeoutMillis != want.TimeoutMillis || len(got.Topics) != len(want.Topics) {
		t.Fatalf("acks %d timeout %d topics %d, want %d %d %d", got.Acks, got.TimeoutMillis, len(got.Topics),
			want.Acks, want.TimeoutMillis, len(want.Topics))
	}
	for i := range want.Topics {
		g, w := &got.Topics[i], &want.Topics[i]
		if g.Topic != w.Topic || g.TopicID != w.TopicID || len(g.Partitions) != len(w.Partitions) {
			t.Fatalf("topic %d: %q %x %d partitions, want %q %x %d", i, g.Topic, g.TopicID, len(g.Partitions),
				w.Topic, w.TopicID, len(w.Partitions))
		}
		for j := range w.Partitions {
			gp, wp := &g.Partitions[j], &w.Partitions[j]
			if gp.Partition != wp.Partition || !bytes.Equal(gp.Records, wp.Records) || (gp.Records == nil) != (wp.Records == nil) {
				t.Fatalf("topic %d partition %d: %d %x, want %d %x", i, j, gp.Partition, gp.Records, wp.Partition, wp.Records)
			}
		}
	}
}

func TestDecodeProduceMatchesKmsg(t *testing.T) {
	m := new(produceMsg)
	for _, c := range produceBodies() {
		want := kmsg.NewPtrProduceRequest()
		want.SetVersion(c.version)
		if err := want.ReadFrom(c.body); err != nil {
			t.Fatal(err)
		}
		// The same pooled message decodes every version in turn: nothing
		// may leak from one request into the next.
		if !decodeProduce(m, c.version, c.body) {
			t.Fatalf("v%d: did not decode", c.version)
		}
		sameProduce(t, &m.ProduceRequest, want)
		if n := testing.AllocsPerRun(100, func() { decodeProduce(m, c.version, c.body) }); n != 0 {
			t.Errorf("v%d: %.0f allocations per decode", c.version, n)
		}
	}
}

// FuzzDecodeProduce: the hand decoder accepts what kmsg accepts, and reads
// the same request from it.
func FuzzDecodeProduce(f *testing.F) {
	for _, c := range produceBodies() {
		f.Add(c.version, c.body)
	}
	m := new(produceMsg)
	f.Fuzz(func(t *testing.T, version int16, body []byte) {
		if version < 0 || version > kmsg.NewPtrProduceRequest().MaxVersion() {
			return
		}
		want := kmsg.NewPtrProduceRequest()
		want.SetVersion(version)
		werr := want.ReadFrom(body)
		ok := decodeProduce(m, version, body)
		if ok != (werr == nil) {
			t.Fatalf("v%d: decoded %v, kmsg: %v", version, ok, werr)
		}
		if ok {
			sameProduce(t, &m.ProduceRequest, want)
		}
	})
}

// fetchBodies are valid Fetch bodies of every version, with every known
// tagged field set where the version has it.
func fetchBodies() (out []struct {
	version int16
	body    []byte
}) {
	for v := int16(0); v <= kmsg.NewPtrFetchRequest().MaxVersion(); v++ {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(v)
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 3, 500, 1, 1<<20
		req.IsolationLevel, req.SessionID, req.SessionEpoch = 1, 77, 5
		req.ClusterID = kmsg.StringPtr("cluster")
		req.ReplicaState.ID, req.ReplicaState.Epoch = 4, 9
		req.Rack = "rack-a"
		for t := 0; t < 2; t++ {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = fmt.Sprint("topic-", t), [16]byte{byte(t + 1)}
			for p := 0; p < 3; p++ {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset = int32(p), 2, int64(100*p)
				rp.LastFetchedEpoch, rp.LogStartOffset, rp.PartitionMaxBytes = 1, 7, 1<<20
				rp.ReplicaDirectoryID, rp.HighWatermark = [16]byte{9}, 1000
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic, ft.TopicID, ft.Partitions = fmt.Sprint("gone-", t), [16]byte{byte(t + 10)}, []int32{4, 5}
			req.ForgottenTopics = append(req.ForgottenTopics, ft)
		}
		out = append(out, struct {
			version int16
			body    []byte
		}{v, req.AppendTo(nil)})
	}
	return out
}

func sameFetch(t *testing.T, got, want *kmsg.FetchRequest) {
	t.Helper()
	g, w := *got, *want
	if (g.ClusterID == nil) != (w.ClusterID == nil) || g.ClusterID != nil && *g.ClusterID != *w.ClusterID {
		t.Fatalf("cluster id %v, want %v", g.ClusterID, w.ClusterID)
	}
	if g.ReplicaID != w.ReplicaID || g.ReplicaState.ID != w.ReplicaState.ID || g.ReplicaState.Epoch != w.ReplicaState.Epoch ||
		g.MaxWaitMillis != w.MaxWaitMillis || g.MinBytes != w.MinBytes || g.MaxBytes != w.MaxBytes ||
		g.IsolationLevel != w.IsolationLevel || g.SessionID != w.SessionID || g.SessionEpoch != w.SessionEpoch ||
		g.Rack != w.Rack || len(g.Topics) != len(w.Topics) || len(g.ForgottenTopics) != len(w.ForgottenTopics) {
		t.Fatalf("got  %+v\nwant %+v", g, w)
	}
	for i := range w.Topics {
		gt, wt := &g.Topics[i], &w.Topics[i]
		if gt.Topic != wt.Topic || gt.TopicID != wt.TopicID || len(gt.Partitions) != len(wt.Partitions) {
			t.Fatalf("topic %d: %+v, want %+v", i, gt, wt)
		}
		for j := range wt.Partitions {
			gp, wp := &gt.Partitions[j], &wt.Partitions[j]
			if gp.Partition != wp.Partition || gp.CurrentLeaderEpoch != wp.CurrentLeaderEpoch || gp.FetchOffset != wp.FetchOffset ||
				gp.LastFetchedEpoch != wp.LastFetchedEpoch || gp.LogStartOffset != wp.LogStartOffset ||
				gp.PartitionMaxBytes != wp.PartitionMaxBytes || gp.ReplicaDirectoryID != wp.ReplicaDirectoryID ||
				gp.HighWatermark != wp.HighWatermark {
				t.Fatalf("topic %d partition %d: %+v, want %+v", i, j, gp, wp)
			}
		}
	}
	for i := range w.ForgottenTopics {
		gt, wt := &g.ForgottenTopics[i], &w.ForgottenTopics[i]
		if gt.Topic != wt.Topic || gt.TopicID != wt.TopicID || fmt.Sprint(gt.Partitions) != fmt.Sprint(wt.Partitions) {
			t.Fatalf("forgotten topic %d: %+v, want %+v", i, gt, wt)
		}
	}
}

func TestDecodeFetchMatchesKmsg(t *testing.T) {
	m := new(fetchMsg)
	for _, c := range fetchBodies() {
		want := kmsg.NewPtrFetchRequest()
		want.SetVersion(c.version)
		if err := want.ReadFrom(c.body); err != nil {
			t.Fatal(err)
		}
		if !decodeFetch(m, c.version, c.body) {
			t.Fatalf("v%d: did not decode", c.version)
		}
		sameFetch(t, &m.FetchRequest, want)
		if n := testing.AllocsPerRun(100, func() { decodeFetch(m, c.version, c.body) }); n != 0 {
			t.Errorf("v%d: %.0f allocations per decode", c.version, n)
		}
	}
}

func FuzzDecodeFetch(f *testing.F) {
	for _, c := range fetchBodies() {
		f.Add(c.version, c.body)
	}
	m := new(fetchMsg)
	f.Fuzz(func(t *testing.T, version int16, body []byte) {
		if version < 0 || version > kmsg.NewPtrFetchRequest().MaxVersion() {
			return
		}
		want := kmsg.NewPtrFetchRequest()
		want.SetVersion(version)
		werr := want.ReadFrom(body)
		ok := decodeFetch(m, version, body)
		if ok != (werr == nil) {
			t.Fatalf("v%d: decoded %v, kmsg: %v", version, ok, werr)
		}
		if ok {
			sameFetch(t, &m.FetchRequest, want)
		}
	})
}
