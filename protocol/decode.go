package protocol

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Produce and Fetch, the requests a busy broker sees thousands of times a
// second, are decoded by hand into pooled kmsg structs whose slices are
// reused from one request to the next, with strings and byte slices
// aliasing the frame: no allocation per request. kmsg's generated decoders
// allocate every nested array afresh (and strings, unless unsafe). Every
// other request goes through kmsg. The hand decoders accept and reject
// exactly what kmsg does (a fuzz test compares them); unknown tagged fields
// are skipped rather than kept, since the broker reads none.

// decoder reads Kafka's primitive types; like kbin.Reader, a short or bad
// input sets err and every later read returns zero.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) fail() { d.err, d.b = true, nil }

func (d *decoder) span(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.fail()
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) int8() int8 {
	if b := d.span(1); b != nil {
		return int8(b[0])
	}
	return 0
}

func (d *decoder) int16() int16 {
	if b := d.span(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (d *decoder) int32() int32 {
	if b := d.span(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (d *decoder) int64() int64 {
	if b := d.span(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (d *decoder) uuid() (u [16]byte) {
	copy(u[:], d.span(16))
	return u
}

// uvarint is a 32-bit unsigned varint (kbin.Uvarint: at most 5 bytes,
// overflow is an error).
func (d *decoder) uvarint() uint32 {
	var x uint32
	for i := 0; i < 5; i++ {
		if i >= len(d.b) {
			d.fail()
			return 0
		}
		c := d.b[i]
		if i == 4 && c > 0x0f {
			d.fail()
			return 0
		}
		x |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			d.b = d.b[i+1:]
			return x
		}
	}
	d.fail()
	return 0
}

// length reads a string, bytes or array length: a compact uvarint (n+1, 0
// for null) when flexible, else int16 (strings) or int32.
func (d *decoder) length(flex, short bool) int {
	switch {
	case flex:
		return int(d.uvarint()) - 1
	case short:
		return int(d.int16())
	default:
		return int(d.int32())
	}
}

// str returns a string aliasing the input; a null reads as "" (kmsg reads
// a negative length of a non-nullable string as an error).
func (d *decoder) str(flex bool) string {
	return unsafeString(d.span(d.length(flex, true)))
}

// nullableStr returns ok=false for null.
func (d *decoder) nullableStr(flex bool) (string, bool) {
	n := d.length(flex, true)
	if n < 0 {
		return "", false
	}
	return unsafeString(d.span(n)), true
}

func (d *decoder) nullableBytes(flex bool) []byte {
	n := d.length(flex, false)
	if n < 0 {
		return nil
	}
	return d.span(n)
}

// arrayLen reads an array length, refusing one longer than the bytes left
// (every element takes at least a byte, as in kbin). A compact length is
// taken as an int32, as kbin does: a huge one wraps negative and reads as
// an empty array.
func (d *decoder) arrayLen(flex bool) int {
	var n int
	if flex {
		n = int(int32(d.uvarint()) - 1)
	} else {
		n = int(d.int32())
	}
	if n > len(d.b) {
		d.fail()
		return 0
	}
	return n
}

// skipTags skips a tagged-field section.
func (d *decoder) skipTags() {
	if len(d.b) > 0 && d.b[0] == 0 {
		d.b = d.b[1:]
		return
	}
	for n := d.uvarint(); n > 0 && !d.err; n-- {
		d.uvarint() // tag
		d.span(int(d.uvarint()))
	}
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// grow returns s with length n, reusing its capacity and the nested
// slices of the elements it keeps.
func grow[T any](s []T, n int) []T {
	if n <= cap(s) {
		return s[:n]
	}
	return append(s[:cap(s)], make([]T, n-cap(s))...)
}

// pooledMsg is a decoded message that goes back to its pool once the
// request's frame is released.
type pooledMsg interface{ release() }

// produceMsg is a pooled ProduceRequest; TransactionID points at txnID.
type produceMsg struct {
	kmsg.ProduceRequest
	txnID string
}

var produceMsgs = sync.Pool{New: func() any { return new(produceMsg) }}

// maxPooledElems bounds the topics, and the partitions per topic, whose
// slices a pooled message keeps for reuse: an odd request with millions of
// partitions is charged while it is served (read.go), and what it grew is
// not kept afterwards.
const maxPooledElems = 4096

func (m *produceMsg) release() {
	m.TransactionID, m.txnID = nil, ""
	for i := range m.Topics {
		t := &m.Topics[i]
		t.Topic = ""
		for j := range t.Partitions {
			t.Partitions[j].Records = nil
		}
		if cap(t.Partitions) > maxPooledElems {
			t.Partitions = nil
		}
	}
	if cap(m.Topics) > maxPooledElems {
		m.Topics = nil
	}
	produceMsgs.Put(m)
}

// decodeProduce decodes a Produce request body of any version kmsg knows.
func decodeProduce(m *produceMsg, version int16, body []byte) bool {
	r := &m.ProduceRequest
	r.Version = version
	r.Default()
	flex := version >= 9
	d := decoder{b: body}
	r.TransactionID = nil
	if version >= 3 {
		if s, ok := d.nullableStr(flex); ok {
			m.txnID = s
			r.TransactionID = &m.txnID
		}
	}
	r.Acks = d.int16()
	r.TimeoutMillis = d.int32()
	n := d.arrayLen(flex)
	// kmsg's bound: every topic takes at least 2 bytes (18 with ids).
	if d.err || int64(n)*2 > int64(len(d.b)) || version >= 13 && int64(n)*18 > int64(len(d.b)) {
		return false
	}
	r.Topics = grow(r.Topics, max(n, 0))
	for i := range r.Topics {
		t := &r.Topics[i]
		t.Topic, t.TopicID = "", [16]byte{}
		if version <= 12 {
			t.Topic = d.str(flex)
		} else {
			t.TopicID = d.uuid()
		}
		np := d.arrayLen(flex)
		if d.err || int64(np)*6 > int64(len(d.b)) {
			return false
		}
		t.Partitions = grow(t.Partitions, max(np, 0))
		for j := range t.Partitions {
			p := &t.Partitions[j]
			p.Partition = d.int32()
			p.Records = d.nullableBytes(flex)
			if flex {
				d.skipTags()
			}
		}
		if flex {
			d.skipTags()
		}
	}
	if flex {
		d.skipTags()
	}
	return !d.err
}

// fetchMsg is a pooled FetchRequest; ClusterID points at clusterID.
type fetchMsg struct {
	kmsg.FetchRequest
	clusterID string
}

var fetchMsgs = sync.Pool{New: func() any { return new(fetchMsg) }}

func (m *fetchMsg) release() {
	m.ClusterID, m.clusterID, m.Rack = nil, "", ""
	for i := range m.Topics {
		m.Topics[i].Topic = ""
	}
	for i := range m.ForgottenTopics {
		m.ForgottenTopics[i].Topic = ""
	}
	for i := range m.Topics {
		if cap(m.Topics[i].Partitions) > maxPooledElems {
			m.Topics[i].Partitions = nil
		}
	}
	if cap(m.Topics) > maxPooledElems {
		m.Topics = nil
	}
	if cap(m.ForgottenTopics) > maxPooledElems {
		m.ForgottenTopics = nil
	}
	fetchMsgs.Put(m)
}

// decodeFetch decodes a Fetch request body of any version kmsg knows,
// including the tagged fields kmsg knows (cluster id, replica state,
// replica directory id, high watermark).
func decodeFetch(m *fetchMsg, version int16, body []byte) bool {
	r := &m.FetchRequest
	flex := version >= 12
	d := decoder{b: body}
	r.Version = version
	r.MinBytes, r.IsolationLevel, r.SessionID, r.MaxWaitMillis = 0, 0, 0, 0
	r.Rack = ""
	r.Default()
	if version <= 14 {
		r.ReplicaID = d.int32()
	}
	r.MaxWaitMillis = d.int32()
	r.MinBytes = d.int32()
	if version >= 3 {
		r.MaxBytes = d.int32()
	}
	if version >= 4 {
		r.IsolationLevel = d.int8()
	}
	if version >= 7 {
		r.SessionID = d.int32()
		r.SessionEpoch = d.int32()
	}
	n := d.arrayLen(flex)
	if d.err || int64(n)*2 > int64(len(d.b)) || version >= 13 && int64(n)*18 > int64(len(d.b)) {
		return false
	}
	r.Topics = grow(r.Topics, max(n, 0))
	for i := range r.Topics {
		t := &r.Topics[i]
		t.Topic, t.TopicID = "", [16]byte{}
		if version <= 12 {
			t.Topic = d.str(flex)
		} else {
			t.TopicID = d.uuid()
		}
		np := d.arrayLen(flex)
		if d.err || int64(np)*16 > int64(len(d.b)) || version >= 12 && int64(np)*32 > int64(len(d.b)) {
			return false
		}
		t.Partitions = grow(t.Partitions, max(np, 0))
		for j := range t.Partitions {
			p := &t.Partitions[j]
			*p = kmsg.NewFetchRequestTopicPartition()
			p.Partition = d.int32()
			if version >= 9 {
				p.CurrentLeaderEpoch = d.int32()
			}
			p.FetchOffset = d.int64()
			if version >= 12 {
				p.LastFetchedEpoch = d.int32()
			}
			if version >= 5 {
				p.LogStartOffset = d.int64()
			}
			p.PartitionMaxBytes = d.int32()
			if flex {
				for k := d.uvarint(); k > 0 && !d.err; k-- {
					switch key := d.uvarint(); key {
					case 0:
						sub := decoder{b: d.span(int(d.uvarint()))}
						p.ReplicaDirectoryID = sub.uuid()
						if sub.err {
							return false
						}
					case 1:
						sub := decoder{b: d.span(int(d.uvarint()))}
						p.HighWatermark = sub.int64()
						if sub.err {
							return false
						}
					default:
						d.span(int(d.uvarint()))
					}
				}
			}
		}
		if flex {
			d.skipTags()
		}
	}
	r.ForgottenTopics = r.ForgottenTopics[:0]
	if version >= 7 {
		n := d.arrayLen(flex)
		if d.err || int64(n)*2 > int64(len(d.b)) || version >= 13 && int64(n)*18 > int64(len(d.b)) {
			return false
		}
		r.ForgottenTopics = grow(r.ForgottenTopics, max(n, 0))
		for i := range r.ForgottenTopics {
			t := &r.ForgottenTopics[i]
			t.Topic, t.TopicID = "", [16]byte{}
			if version <= 12 {
				t.Topic = d.str(flex)
			} else {
				t.TopicID = d.uuid()
			}
			np := d.arrayLen(flex)
			if d.err || int64(np)*4 > int64(len(d.b)) {
				return false
			}
			t.Partitions = grow(t.Partitions, max(np, 0))
			for j := range t.Partitions {
				t.Partitions[j] = d.int32()
			}
			if flex {
				d.skipTags()
			}
		}
	}
	if version >= 11 {
		r.Rack = d.str(flex)
	}
	if flex {
		for k := d.uvarint(); k > 0 && !d.err; k-- {
			switch key := d.uvarint(); key {
			case 0:
				sub := decoder{b: d.span(int(d.uvarint()))}
				if s, ok := sub.nullableStr(flex); ok {
					m.clusterID = s
					r.ClusterID = &m.clusterID
				} else {
					r.ClusterID = nil
				}
				if sub.err {
					return false
				}
			case 1:
				sub := decoder{b: d.span(int(d.uvarint()))}
				r.ReplicaState.Default()
				r.ReplicaState.ID = sub.int32()
				r.ReplicaState.Epoch = sub.int64()
				sub.skipTags()
				if sub.err {
					return false
				}
			default:
				d.span(int(d.uvarint()))
			}
		}
	}
	return !d.err
}
