package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestFetchSessions(t *testing.T) {
	b := testBroker(t)
	createTopic(t, b, "s", 3, nil)
	fetch := func(id, epoch int32, parts map[int32]int64, forget []int32) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.SessionID, req.SessionEpoch = id, epoch
		req.MaxBytes = 1 << 20
		if len(parts) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "s"
			for p, off := range parts {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		if len(forget) > 0 {
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic, ft.Partitions = "s", forget
			req.ForgottenTopics = append(req.ForgottenTopics, ft)
		}
		return request[*kmsg.FetchResponse](t, b, req)
	}
	count := func(resp *kmsg.FetchResponse) map[int32]int {
		out := map[int32]int{}
		for _, tp := range resp.Topics {
			for _, p := range tp.Partitions {
				out[p.Partition] = len(p.RecordBatches)
			}
		}
		return out
	}

	full := fetch(0, 0, map[int32]int64{0: 0, 1: 0, 2: 0}, nil)
	if full.SessionID == 0 || len(count(full)) != 3 {
		t.Fatalf("full fetch: session %d, partitions %v", full.SessionID, count(full))
	}
	id := full.SessionID
	if got := count(fetch(id, 1, nil, nil)); len(got) != 0 {
		t.Fatalf("incremental fetch with nothing new returned %v", got)
	}
	p := newClient(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := p.ProduceSync(ctxT(t), &kgo.Record{Topic: "s", Partition: 1, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := count(fetch(id, 2, nil, nil))
	if len(got) != 1 || got[1] == 0 {
		t.Fatalf("incremental fetch after a produce to partition 1: %v", got)
	}
	// The client moves partition 1 past the record; nothing new again.
	if got := count(fetch(id, 3, map[int32]int64{1: 1}, nil)); len(got) != 0 {
		t.Fatalf("after advancing: %v", got)
	}
	// Forgetting partition 1: a new record there is not returned.
	if got := count(fetch(id, 4, nil, []int32{1})); len(got) != 0 {
		t.Fatalf("forget: %v", got)
	}
	p.ProduceSync(ctxT(t), &kgo.Record{Topic: "s", Partition: 1, Value: []byte("y")})
	if got := count(fetch(id, 5, nil, nil)); len(got) != 0 {
		t.Fatalf("forgotten partition returned: %v", got)
	}
	if resp := fetch(id, 5, nil, nil); resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("stale epoch: %d", resp.ErrorCode)
	}
	if resp := fetch(id+1, 1, nil, nil); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: %d", resp.ErrorCode)
	}
	// Epoch -1 closes the session and answers as a sessionless full fetch.
	closed := fetch(id, -1, map[int32]int64{0: 0}, nil)
	if closed.SessionID != 0 || len(count(closed)) != 1 {
		t.Fatalf("closing fetch: %+v", closed)
	}
	if resp := fetch(id, 7, nil, nil); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session still usable: %d", resp.ErrorCode)
	}
}
