package broker

import (
	"net"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// inlineRecords is the size below which record bytes are copied into the
// framing buffer rather than given to writev as their own slice: a copy of a
// few hundred bytes is cheaper than an extra iovec.
const inlineRecords = 1024

// fetchEncoder renders a FetchResponse body as a list of buffers: the
// framing into one growing buffer, large record batches as the log's own
// memory-mapped slices, so they reach the socket without passing through the
// heap. The bytes are exactly those kmsg's AppendTo writes (a test checks
// every version).
type fetchEncoder struct {
	buf  []byte
	segs []fetchSeg
}

// fetchSeg is either a range of buf or an external slice.
type fetchSeg struct {
	start, end int
	ext        []byte
}

// reset drops the record slices the last response referred to.
func (e *fetchEncoder) reset() {
	clear(e.segs)
	e.segs = e.segs[:0]
}

func (e *fetchEncoder) cut(ext []byte) {
	start := 0
	if n := len(e.segs); n > 0 {
		start = e.segs[n-1].end
	}
	e.segs = append(e.segs, fetchSeg{start: start, end: len(e.buf)})
	e.segs = append(e.segs, fetchSeg{start: len(e.buf), end: len(e.buf), ext: ext})
}

// encode appends the body of resp and returns the buffers; they alias
// e.buf and the record slices.
func (e *fetchEncoder) encode(resp *kmsg.FetchResponse, bufs net.Buffers) net.Buffers {
	e.buf, e.segs = e.buf[:0], e.segs[:0]
	v := resp.Version
	flex := v >= 12
	b := e.buf
	if v >= 1 {
		b = kbin.AppendInt32(b, resp.ThrottleMillis)
	}
	if v >= 7 {
		b = kbin.AppendInt16(b, resp.ErrorCode)
		b = kbin.AppendInt32(b, resp.SessionID)
	}
	b = appendArrayLen(b, len(resp.Topics), flex)
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if v <= 12 {
			b = appendString(b, t.Topic, flex)
		} else {
			b = kbin.AppendUuid(b, t.TopicID)
		}
		b = appendArrayLen(b, len(t.Partitions), flex)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			b = kbin.AppendInt32(b, p.Partition)
			b = kbin.AppendInt16(b, p.ErrorCode)
			b = kbin.AppendInt64(b, p.HighWatermark)
			if v >= 4 {
				b = kbin.AppendInt64(b, p.LastStableOffset)
			}
			if v >= 5 {
				b = kbin.AppendInt64(b, p.LogStartOffset)
			}
			if v >= 4 {
				if flex {
					b = kbin.AppendCompactNullableArrayLen(b, len(p.AbortedTransactions), p.AbortedTransactions == nil)
				} else {
					b = kbin.AppendNullableArrayLen(b, len(p.AbortedTransactions), p.AbortedTransactions == nil)
				}
				for _, a := range p.AbortedTransactions {
					b = kbin.AppendInt64(b, a.ProducerID)
					b = kbin.AppendInt64(b, a.FirstOffset)
					if flex {
						b = append(b, 0)
					}
				}
			}
			if v >= 11 {
				b = kbin.AppendInt32(b, p.PreferredReadReplica)
			}
			recs := p.RecordBatches
			switch {
			case recs == nil && flex:
				b = append(b, 0)
			case recs == nil:
				b = kbin.AppendInt32(b, -1)
			case flex:
				b = kbin.AppendUvarint(b, uint32(len(recs)+1))
			default:
				b = kbin.AppendInt32(b, int32(len(recs)))
			}
			if len(recs) < inlineRecords {
				b = append(b, recs...)
			} else {
				e.buf = b
				e.cut(recs)
				b = e.buf
			}
			if flex {
				b = appendPartitionTags(b, p)
			}
		}
		if flex {
			b = append(b, 0)
		}
	}
	if flex {
		if len(resp.Brokers) == 0 {
			b = append(b, 0)
		} else {
			b = append(b, 1, 0) // one tag: 0, Brokers
			var body []byte
			body = kbin.AppendCompactArrayLen(body, len(resp.Brokers))
			for _, br := range resp.Brokers {
				body = kbin.AppendInt32(body, br.NodeID)
				body = kbin.AppendCompactString(body, br.Host)
				body = kbin.AppendInt32(body, br.Port)
				body = kbin.AppendCompactNullableString(body, br.Rack)
				body = append(body, 0)
			}
			b = kbin.AppendUvarint(b, uint32(len(body)))
			b = append(b, body...)
		}
	}
	e.buf = b
	start := 0
	if n := len(e.segs); n > 0 {
		start = e.segs[n-1].end
	}
	e.segs = append(e.segs, fetchSeg{start: start, end: len(e.buf)})
	for _, s := range e.segs {
		switch {
		case s.ext != nil:
			bufs = append(bufs, s.ext)
		case s.end > s.start:
			bufs = append(bufs, e.buf[s.start:s.end])
		}
	}
	return bufs
}

// appendPartitionTags writes a partition's tagged fields: those that differ
// from their defaults, in tag order.
func appendPartitionTags(b []byte, p *kmsg.FetchResponseTopicPartition) []byte {
	div := p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1
	lead := p.CurrentLeader.LeaderID != -1 || p.CurrentLeader.LeaderEpoch != -1
	snap := p.SnapshotID.EndOffset != -1 || p.SnapshotID.Epoch != -1
	n := 0
	for _, set := range []bool{div, lead, snap} {
		if set {
			n++
		}
	}
	b = kbin.AppendUvarint(b, uint32(n))
	if div {
		b = append(b, 0, 13) // tag 0, 13 bytes: int32, int64, no tags
		b = kbin.AppendInt32(b, p.DivergingEpoch.Epoch)
		b = kbin.AppendInt64(b, p.DivergingEpoch.EndOffset)
		b = append(b, 0)
	}
	if lead {
		b = append(b, 1, 9)
		b = kbin.AppendInt32(b, p.CurrentLeader.LeaderID)
		b = kbin.AppendInt32(b, p.CurrentLeader.LeaderEpoch)
		b = append(b, 0)
	}
	if snap {
		b = append(b, 2, 13)
		b = kbin.AppendInt64(b, p.SnapshotID.EndOffset)
		b = kbin.AppendInt32(b, p.SnapshotID.Epoch)
		b = append(b, 0)
	}
	return b
}

func appendArrayLen(b []byte, n int, flex bool) []byte {
	if flex {
		return kbin.AppendCompactArrayLen(b, n)
	}
	return kbin.AppendArrayLen(b, n)
}

func appendString(b []byte, s string, flex bool) []byte {
	if flex {
		return kbin.AppendCompactString(b, s)
	}
	return kbin.AppendString(b, s)
}
