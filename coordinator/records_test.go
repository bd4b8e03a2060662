package coordinator

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestRecordsRoundTrip(t *testing.T) {
	o := offset{offset: 42, leaderEpoch: 7, metadata: "meta", commitTime: 1000, expire: -1}
	if got, err := parseOffsetValue(offsetValue(&o)); err != nil || got != o {
		t.Fatalf("offset value v3: %+v %v", got, err)
	}
	o.expire = 5000
	if got, err := parseOffsetValue(offsetValue(&o)); err != nil || got.expire != 5000 || got.leaderEpoch != -1 {
		t.Fatalf("offset value v1 (epoch not kept, as in Kafka's v1): %+v %v", got, err)
	}
	for _, k := range [][]byte{offsetKey("g", "t", 3), groupKey("g"), consumerKey(recConsumerMember, "g", "m"), consumerKey(recConsumerGroup, "g")} {
		if _, err := parseKey(k); err != nil {
			t.Fatalf("key %x: %v", k, err)
		}
	}
	k, _ := parseKey(offsetKey("g", "t", 3))
	if k != (recordKey{typ: recOffsetCommit, group: "g", topic: "t", partition: 3}) {
		t.Fatalf("offset key: %+v", k)
	}
	// The classic value is kmsg's, at version 3.
	gv, err := parseGroupValue(func() []byte {
		v := kmsg.NewGroupMetadataValue()
		v.Version, v.ProtocolType, v.Generation = 3, "consumer", 9
		return v.AppendTo(nil)
	}())
	if err != nil || gv.Generation != 9 {
		t.Fatalf("group value: %+v %v", gv, err)
	}

	g := cgGroupValue{epoch: 5, metadataHash: 1<<63 + 3}
	if got, err := parseCGGroupValue(g.encode()); err != nil || got != g {
		t.Fatalf("consumer group value: %+v %v", got, err)
	}
	m := cgMemberValue{instanceID: strPtr("i"), clientID: "c", clientHost: "/h", topics: []string{"a", "b"}, regex: strPtr("x.*"),
		rebalanceTimeout: 30000, assignor: strPtr("range")}
	if got, err := parseCGMemberValue(m.encode()); err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("member value: %+v %v", got, err)
	}
	tps := []topicParts{{id: [16]byte{1}, partitions: []int32{0, 1}}, {id: [16]byte{2}, partitions: []int32{5}}}
	if got, err := parseTarget(encodeTarget(tps)); err != nil || !reflect.DeepEqual(got, tps) {
		t.Fatalf("target value: %+v %v", got, err)
	}
	withEpochs := []topicParts{{id: [16]byte{1}, partitions: []int32{0, 1}, epochs: []int32{3, 4}}}
	cur := cgCurrentValue{epoch: 4, prevEpoch: 3, state: memberUnrevoked, assigned: withEpochs, revoking: tps}
	got, err := parseCGCurrentValue(cur.encode())
	if err != nil || !reflect.DeepEqual(got.assigned, withEpochs) || !reflect.DeepEqual(got.revoking, tps) || got.epoch != 4 || got.state != 1 {
		t.Fatalf("current assignment value: %+v %v", got, err)
	}
	if e, err := parseTargetMeta(encodeTargetMeta(8)); err != nil || e != 8 {
		t.Fatalf("target metadata: %d %v", e, err)
	}

	// Corrupt values are errors, not panics or huge allocations. (Bytes
	// after a value are ignored, as kmsg and Kafka's readers do.)
	for _, b := range [][]byte{nil, {0}, {0, 1}, {0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}} {
		if _, err := parseCGMemberValue(b); !errors.Is(err, errBadRecord) {
			t.Fatalf("%x: %v", b, err)
		}
	}
}
