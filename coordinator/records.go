package coordinator

// The records of __consumer_offsets, in Kafka's schemas (group-coordinator
// src/main/resources/common/message/*.json). A key starts with an int16 that
// names the record type (for the oldest two, the key version); a value
// starts with its own int16 version; a null value is a tombstone.
//
//	type  key                                     value (version written)
//	0, 1  OffsetCommitKey{group, topic, part}     OffsetCommitValue v3 (v1 with an expire timestamp)
//	2     GroupMetadataKey{group}                 GroupMetadataValue v3 (classic groups)
//	3     ConsumerGroupMetadataKey{group}         {epoch; tag 0 metadataHash}
//	5     ConsumerGroupMemberMetadataKey{g, m}    {instance, rack, client, host, topics, regex, rebalanceTimeout, assignor}
//	6     ConsumerGroupTargetAssignmentMetadata   {assignmentEpoch}
//	7     ConsumerGroupTargetAssignmentMember     {[topicId, [partition]]}
//	8     ConsumerGroupCurrentMemberAssignment    {epoch, previousEpoch, state, assigned, pendingRevocation}
//
// Types 0-2 are encoded with kmsg; the KIP-848 types (3-8), which kmsg does
// not have, are encoded here: keys are non-flexible (int16 strings), values
// are flexible (compact strings and arrays, tagged fields). Type 4
// (partition metadata, replaced in Kafka 4.1 by the metadata hash) and 16
// (resolved regular expressions) are read past: Potok resolves regular
// expressions again after loading.

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record types (the key's leading int16).
const (
	recOffsetCommitV0      int16 = 0
	recOffsetCommit        int16 = 1
	recGroupMetadata       int16 = 2
	recConsumerGroup       int16 = 3
	recConsumerPartitions  int16 = 4
	recConsumerMember      int16 = 5
	recConsumerTargetMeta  int16 = 6
	recConsumerTarget      int16 = 7
	recConsumerCurrent     int16 = 8
	recConsumerRegex       int16 = 16
	groupMetadataVersion   int16 = 3
	offsetValueVersion     int16 = 3
	offsetValueVersionExp  int16 = 1
	consumerValueVersion   int16 = 0
	maxRecordArrayElements       = 1 << 20
)

var errBadRecord = errors.New("coordinator: malformed __consumer_offsets record")

// recordKey is a decoded key.
type recordKey struct {
	typ       int16
	group     string
	topic     string // offset commits
	partition int32  // offset commits
	member    string // KIP-848 member records
}

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.NewOffsetCommitKey()
	k.Version, k.Group, k.Topic, k.Partition = recOffsetCommit, group, topic, partition
	return k.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.NewGroupMetadataKey()
	k.Version, k.Group = recGroupMetadata, group
	return k.AppendTo(nil)
}

// consumerKey encodes a KIP-848 key: the record type, the group and, for
// member records, the member id.
func consumerKey(typ int16, group string, member ...string) []byte {
	b := kbin.AppendInt16(nil, typ)
	b = kbin.AppendString(b, group)
	for _, m := range member {
		b = kbin.AppendString(b, m)
	}
	return b
}

func parseKey(b []byte) (recordKey, error) {
	if len(b) < 2 {
		return recordKey{}, errBadRecord
	}
	r := kbin.Reader{Src: b}
	k := recordKey{typ: r.Int16()}
	switch k.typ {
	case recOffsetCommitV0, recOffsetCommit:
		k.group, k.topic, k.partition = r.String(), r.String(), r.Int32()
	case recGroupMetadata, recConsumerGroup, recConsumerPartitions, recConsumerTargetMeta, recConsumerRegex:
		k.group = r.String()
		if k.typ == recConsumerRegex {
			_ = r.String() // the regular expression
		}
	case recConsumerMember, recConsumerTarget, recConsumerCurrent:
		k.group, k.member = r.String(), r.String()
	default:
		return k, nil // another kind of group (share, streams): skipped
	}
	if err := r.Complete(); err != nil {
		return recordKey{}, fmt.Errorf("%w: key type %d: %v", errBadRecord, k.typ, err)
	}
	return k, nil
}

// offsetValue encodes a committed offset.
func offsetValue(o *offset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	if o.expire >= 0 {
		v.Version = offsetValueVersionExp
		v.ExpireTimestamp = o.expire
	}
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.offset, o.leaderEpoch, o.metadata, o.commitTime
	return v.AppendTo(nil)
}

func parseOffsetValue(b []byte) (offset, error) {
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(b); err != nil || v.Version < 0 || v.Version > 4 {
		return offset{}, fmt.Errorf("%w: offset commit value: %v", errBadRecord, err)
	}
	o := offset{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitTime: v.CommitTimestamp, expire: -1}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		o.expire = v.ExpireTimestamp
	}
	return o, nil
}

func parseGroupValue(b []byte) (*kmsg.GroupMetadataValue, error) {
	v := new(kmsg.GroupMetadataValue)
	if err := v.ReadFrom(b); err != nil || v.Version < 0 || v.Version > 4 {
		return nil, fmt.Errorf("%w: group metadata value: %v", errBadRecord, err)
	}
	return v, nil
}

// The KIP-848 values.

type cgGroupValue struct {
	epoch        int32
	metadataHash uint64
}

type cgMemberValue struct {
	instanceID, rackID   *string
	clientID, clientHost string
	topics               []string
	regex                *string
	rebalanceTimeout     int32
	assignor             *string
}

// topicParts is one topic's partitions in an assignment record; epochs, when
// present, gives the member epoch at which each partition was assigned
// (KIP-1251's AssignmentEpochs tag).
type topicParts struct {
	id         [16]byte
	partitions []int32
	epochs     []int32
}

type cgCurrentValue struct {
	epoch, prevEpoch int32
	state            int8
	assigned         []topicParts
	revoking         []topicParts
}

// tagField is one tagged field to write; a nil body is left out.
type tagField struct {
	tag  uint32
	body []byte
}

func appendTags(b []byte, fields ...tagField) []byte {
	n := 0
	for _, f := range fields {
		if f.body != nil {
			n++
		}
	}
	b = kbin.AppendUvarint(b, uint32(n))
	for _, f := range fields {
		if f.body == nil {
			continue
		}
		b = kbin.AppendUvarint(b, f.tag)
		b = kbin.AppendUvarint(b, uint32(len(f.body)))
		b = append(b, f.body...)
	}
	return b
}

func (v *cgGroupValue) encode() []byte {
	b := kbin.AppendInt16(nil, consumerValueVersion)
	b = kbin.AppendInt32(b, v.epoch)
	var hash []byte
	if v.metadataHash != 0 {
		hash = kbin.AppendInt64(nil, int64(v.metadataHash))
	}
	return appendTags(b, tagField{0, hash})
}

func (v *cgMemberValue) encode() []byte {
	b := kbin.AppendInt16(nil, consumerValueVersion)
	b = kbin.AppendCompactNullableString(b, v.instanceID)
	b = kbin.AppendCompactNullableString(b, v.rackID)
	b = kbin.AppendCompactString(b, v.clientID)
	b = kbin.AppendCompactString(b, v.clientHost)
	b = kbin.AppendCompactArrayLen(b, len(v.topics))
	for _, t := range v.topics {
		b = kbin.AppendCompactString(b, t)
	}
	b = kbin.AppendCompactNullableString(b, v.regex)
	b = kbin.AppendInt32(b, v.rebalanceTimeout)
	b = kbin.AppendCompactNullableString(b, v.assignor)
	return appendTags(b)
}

func encodeTargetMeta(epoch int32) []byte {
	b := kbin.AppendInt16(nil, consumerValueVersion)
	b = kbin.AppendInt32(b, epoch)
	return appendTags(b)
}

func appendTopicParts(b []byte, tps []topicParts, withEpochs bool) []byte {
	b = kbin.AppendCompactArrayLen(b, len(tps))
	for _, tp := range tps {
		b = kbin.AppendUuid(b, tp.id)
		b = kbin.AppendCompactArrayLen(b, len(tp.partitions))
		for _, p := range tp.partitions {
			b = kbin.AppendInt32(b, p)
		}
		var epochs []byte
		if withEpochs && tp.epochs != nil {
			epochs = kbin.AppendCompactArrayLen(nil, len(tp.epochs))
			for _, e := range tp.epochs {
				epochs = kbin.AppendInt32(epochs, e)
			}
		}
		b = appendTags(b, tagField{0, epochs})
	}
	return b
}

func encodeTarget(tps []topicParts) []byte {
	b := kbin.AppendInt16(nil, consumerValueVersion)
	b = appendTopicParts(b, tps, false)
	return appendTags(b)
}

func (v *cgCurrentValue) encode() []byte {
	b := kbin.AppendInt16(nil, consumerValueVersion)
	b = kbin.AppendInt32(b, v.epoch)
	b = kbin.AppendInt32(b, v.prevEpoch)
	b = kbin.AppendInt8(b, v.state)
	b = appendTopicParts(b, v.assigned, true)
	b = appendTopicParts(b, v.revoking, true)
	return appendTags(b)
}

// vreader decodes flexible values, refusing lengths larger than what is
// left so that a corrupt record cannot make it allocate.
type vreader struct{ kbin.Reader }

func newVReader(b []byte) (*vreader, error) {
	r := &vreader{kbin.Reader{Src: b}}
	if v := r.Int16(); v != consumerValueVersion || !r.Ok() {
		return nil, fmt.Errorf("%w: value version %d", errBadRecord, v)
	}
	return r, nil
}

func (r *vreader) arrayLen() int {
	n := r.CompactArrayLen()
	if n < 0 || int(n) > len(r.Src) || n > maxRecordArrayElements {
		r.Span(len(r.Src) + 1) // fail the reader
		return 0
	}
	return int(n)
}

func (r *vreader) strings() []string {
	n := r.arrayLen()
	out := make([]string, 0, n)
	for i := 0; i < n && r.Ok(); i++ {
		out = append(out, r.CompactString())
	}
	return out
}

func (r *vreader) int32s() []int32 {
	n := r.arrayLen()
	out := make([]int32, 0, n)
	for i := 0; i < n && r.Ok(); i++ {
		out = append(out, r.Int32())
	}
	return out
}

// tags reads a tag buffer, handing each tag's body to fn (which may be nil).
func (r *vreader) tags(fn func(tag uint32, body *vreader)) {
	n := r.Uvarint()
	for i := uint32(0); i < n && r.Ok(); i++ {
		tag := r.Uvarint()
		size := r.Uvarint()
		if int64(size) > int64(len(r.Src)) {
			r.Span(len(r.Src) + 1)
			return
		}
		body := &vreader{kbin.Reader{Src: r.Span(int(size))}}
		if fn != nil && r.Ok() {
			fn(tag, body)
			if !body.Ok() {
				r.Span(len(r.Src) + 1)
			}
		}
	}
}

func (r *vreader) done(what string) error {
	if err := r.Complete(); err != nil {
		return fmt.Errorf("%w: %s: %v", errBadRecord, what, err)
	}
	return nil
}

func parseCGGroupValue(b []byte) (cgGroupValue, error) {
	r, err := newVReader(b)
	if err != nil {
		return cgGroupValue{}, err
	}
	v := cgGroupValue{epoch: r.Int32()}
	r.tags(func(tag uint32, body *vreader) {
		if tag == 0 {
			v.metadataHash = uint64(body.Int64())
		}
	})
	return v, r.done("consumer group metadata")
}

func parseCGMemberValue(b []byte) (cgMemberValue, error) {
	r, err := newVReader(b)
	if err != nil {
		return cgMemberValue{}, err
	}
	var v cgMemberValue
	v.instanceID = r.CompactNullableString()
	v.rackID = r.CompactNullableString()
	v.clientID = r.CompactString()
	v.clientHost = r.CompactString()
	v.topics = r.strings()
	v.regex = r.CompactNullableString()
	v.rebalanceTimeout = r.Int32()
	v.assignor = r.CompactNullableString()
	r.tags(nil)
	return v, r.done("consumer group member")
}

func parseTargetMeta(b []byte) (int32, error) {
	r, err := newVReader(b)
	if err != nil {
		return 0, err
	}
	epoch := r.Int32()
	r.tags(nil)
	return epoch, r.done("target assignment metadata")
}

func (r *vreader) topicParts() []topicParts {
	n := r.arrayLen()
	out := make([]topicParts, 0, n)
	for i := 0; i < n && r.Ok(); i++ {
		out = append(out, topicParts{id: r.Uuid(), partitions: r.int32s()})
		r.tags(nil)
	}
	return out
}

func parseTarget(b []byte) ([]topicParts, error) {
	r, err := newVReader(b)
	if err != nil {
		return nil, err
	}
	tps := r.topicParts()
	r.tags(nil)
	return tps, r.done("target assignment member")
}

func parseCGCurrentValue(b []byte) (cgCurrentValue, error) {
	r, err := newVReader(b)
	if err != nil {
		return cgCurrentValue{}, err
	}
	var v cgCurrentValue
	v.epoch = r.Int32()
	v.prevEpoch = r.Int32()
	v.state = r.Int8()
	v.assigned = r.topicPartsWithEpochs()
	v.revoking = r.topicPartsWithEpochs()
	r.tags(nil)
	return v, r.done("current member assignment")
}

// topicPartsWithEpochs reads topic partitions with their optional
// AssignmentEpochs tag.
func (r *vreader) topicPartsWithEpochs() []topicParts {
	n := r.arrayLen()
	out := make([]topicParts, 0, n)
	for i := 0; i < n && r.Ok(); i++ {
		tp := topicParts{id: r.Uuid(), partitions: r.int32s()}
		r.tags(func(tag uint32, body *vreader) {
			if tag != 0 {
				return
			}
			// A nullable array: null means no epochs were recorded.
			if n := body.CompactArrayLen(); n >= 0 && int(n) == len(tp.partitions) && int(n)*4 <= len(body.Src) {
				tp.epochs = make([]int32, n)
				for j := range tp.epochs {
					tp.epochs[j] = body.Int32()
				}
			}
		})
		out = append(out, tp)
	}
	return out
}
