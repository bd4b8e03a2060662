package protocol

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// What a request costs in memory, and the limits on it.
//
// socket.request.max.bytes bounds the bytes of a frame, but kmsg turns those
// bytes into Go structs that can be far larger: an array length is checked
// against the bytes left, yet every element becomes a struct of its own. A
// Metadata v9 topic is 4 bytes on the wire (an empty name, one unknown
// tagged field) and 384 bytes once decoded (the topic struct, and a map for
// the tag); a 100 MiB frame of them would decode to 9.6 GiB.
// TestDecodeAmplification measures every request kmsg knows this way, with
// and without a tag per element: the worst is 96 bytes per byte.
//
// So a request is charged to queued.max.request.bytes for what it will hold
// in memory, not for its bytes:
//
//   - Requests other than Produce are at most MaxOtherRequestBytes (8 MiB by
//     default; real ones are kilobytes) and are charged the worst case,
//     decodeAmplification times their size, while they decode. Once
//     decoded, the charge drops to the frame plus what the decoded request
//     actually holds (decodedSize).
//   - Produce requests are large for their records, which stay in the frame,
//     not for their structure. Before decoding, produceShape counts the
//     topics, partitions and tagged fields, and the request is charged the
//     frame plus the structs those become, here and in the response.
//
// A charge larger than the whole budget is served alone, once nothing else
// is charged; every legal frame can be served. Only a Produce request whose
// partitions would cost more than the budget and 64 MiB beyond its frame
// closes the connection: no client sends millions of empty partitions.

// decodeAmplification is the most heap bytes kmsg allocates per byte of a
// request body, rounded up from TestDecodeAmplification's 96.
const decodeAmplification = 100

// defaultMaxOtherRequestBytes bounds the frames of APIs other than Produce.
const defaultMaxOtherRequestBytes = 8 << 20

const produceKey = 0

// The memory a Produce request holds per element beyond its frame: the
// request struct, the response struct it gets, and room for encoding it.
var (
	produceTopicCost = int64(unsafe.Sizeof(kmsg.ProduceRequestTopic{})+unsafe.Sizeof(kmsg.ProduceResponseTopic{})) + 64
	producePartCost  = int64(unsafe.Sizeof(kmsg.ProduceRequestTopicPartition{})+unsafe.Sizeof(kmsg.ProduceResponseTopicPartition{})) + 64
)

// requestOverhead is what every request holds besides its frame and its
// elements: the decoded message, the Request, its channel, the response
// header.
const requestOverhead = 1 << 10

// tagCost is what one unknown tagged field costs once decoded: kmsg keeps
// unknown tags in a map per struct (measured: about 340 bytes for the first
// tag of a struct).
const tagCost = 400

// frameLimit returns the largest frame accepted for an API key.
func (s *Server) frameLimit(key int16) int64 {
	if key == produceKey {
		return int64(s.cfg.MaxRequestBytes)
	}
	return min(int64(s.cfg.MaxRequestBytes), int64(s.cfg.MaxOtherRequestBytes))
}

// decodeCost is what a request of n bytes is charged while it decodes.
func decodeCost(key int16, n int64) int64 {
	if key == produceKey {
		return n // produceCost adds the structure once the frame is read
	}
	return n * decodeAmplification
}

// produceCost returns what a Produce frame will hold once decoded and
// answered: the frame, plus the structs of its topics, partitions and
// unknown tags. ok is false if the body does not even have Produce's shape;
// decoding will then fail without allocating much.
func produceCost(version int16, body []byte, n int64) (int64, bool) {
	topics, parts, tags, ok := produceShape(version, body)
	return n + requestOverhead + topics*produceTopicCost + parts*producePartCost + tags*tagCost, ok
}

// produceShape walks a Produce body (after the request header) the way kmsg
// decodes it, counting what decoding would allocate, without allocating.
func produceShape(version int16, body []byte) (topics, partitions, tags int64, ok bool) {
	r := &kbin.Reader{Src: body}
	flex := version >= 9
	if version >= 3 {
		skipString(r, flex) // transactional id
	}
	r.Int16() // acks
	r.Int32() // timeout
	nt := arrayLen(r, flex)
	for i := int32(0); i < nt && r.Ok(); i++ {
		topics++
		if version >= 13 {
			r.Span(16) // topic id
		} else {
			skipString(r, flex)
		}
		np := arrayLen(r, flex)
		for j := int32(0); j < np && r.Ok(); j++ {
			partitions++
			r.Int32()
			skipBytes(r, flex)
			if flex {
				tags += skipTags(r)
			}
		}
		if flex {
			tags += skipTags(r)
		}
	}
	if flex {
		tags += skipTags(r)
	}
	return topics, partitions, tags, r.Ok()
}

func arrayLen(r *kbin.Reader, flex bool) int32 {
	if flex {
		return int32(r.Uvarint()) - 1
	}
	return r.Int32()
}

// skipString skips a (nullable) string.
func skipString(r *kbin.Reader, flex bool) {
	var l int
	if flex {
		l = int(r.Uvarint()) - 1
	} else {
		l = int(r.Int16())
	}
	if l > 0 {
		r.Span(l)
	}
}

// skipBytes skips (nullable) bytes.
func skipBytes(r *kbin.Reader, flex bool) {
	var l int
	if flex {
		l = int(r.Uvarint()) - 1
	} else {
		l = int(r.Int32())
	}
	if l > 0 {
		r.Span(l)
	}
}

// skipTags skips a tag section and returns the number of tags in it.
func skipTags(r *kbin.Reader) int64 {
	var n int64
	for num := r.Uvarint(); num > 0 && r.Ok(); num-- {
		r.Uvarint()
		r.Span(int(r.Uvarint()))
		n++
	}
	return n
}

// decodedSize estimates the heap bytes a decoded message holds beyond its
// frame: the message struct, its slices of structs, copied strings and the
// maps of unknown tags. Byte slices alias the frame and cost nothing.
func decodedSize(msg kmsg.Request) int64 {
	v := reflect.ValueOf(msg)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return 0
	}
	return int64(v.Elem().Type().Size()) + sizerOf(v.Elem().Type())(v.Elem())
}

// A sizer returns the heap bytes a value refers to (not counting the value
// itself); nil means none. Sizers are built once per type, so that walking
// a request costs a few nanoseconds per element.
type sizer func(reflect.Value) int64

var sizers sync.Map // reflect.Type -> sizer (non-nil)

func zeroSizer(reflect.Value) int64 { return 0 }

// sizerOf returns the (cached) sizer of t, never nil.
func sizerOf(t reflect.Type) sizer {
	if f, ok := sizers.Load(t); ok {
		return f.(sizer)
	}
	f := buildSizer(t)
	if f == nil {
		f = zeroSizer
	}
	sizers.Store(t, f)
	return f
}

// buildSizer returns nil for types that refer to nothing on the heap.
func buildSizer(t reflect.Type) sizer {
	switch t.Kind() {
	case reflect.String:
		return func(v reflect.Value) int64 { return int64(v.Len()) }
	case reflect.Pointer:
		elem := buildSizer(t.Elem())
		size := int64(t.Elem().Size())
		return func(v reflect.Value) int64 {
			if v.IsNil() {
				return 0
			}
			n := size
			if elem != nil {
				n += elem(v.Elem())
			}
			return n
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // aliases the frame
		}
		elem := buildSizer(t.Elem())
		size := int64(t.Elem().Size())
		return func(v reflect.Value) int64 {
			n := int64(v.Cap()) * size
			if elem != nil {
				for i := range v.Len() {
					n += elem(v.Index(i))
				}
			}
			return n
		}
	case reflect.Map:
		// A Go map's header and first group, then per entry roughly a
		// key, a slice header and a control byte, doubled for load.
		return func(v reflect.Value) int64 {
			if v.Len() == 0 {
				return 0
			}
			return 300 + int64(v.Len())*64
		}
	case reflect.Struct:
		type field struct {
			i int
			f sizer
		}
		var fs []field
		for i := range t.NumField() {
			if f := buildSizer(t.Field(i).Type); f != nil {
				fs = append(fs, field{i, f})
			}
		}
		if len(fs) == 0 {
			return nil
		}
		return func(v reflect.Value) int64 {
			var n int64
			for _, f := range fs {
				n += f.f(v.Field(f.i))
			}
			return n
		}
	case reflect.Array:
		elem := buildSizer(t.Elem())
		if elem == nil {
			return nil
		}
		return func(v reflect.Value) int64 {
			var n int64
			for i := range v.Len() {
				n += elem(v.Index(i))
			}
			return n
		}
	}
	return nil
}
