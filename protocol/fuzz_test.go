package protocol

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// allHandler serves every request kmsg knows at every version, so that
// decoding is reached for all of them.
type allHandler struct{}

func (allHandler) Versions(key int16) (int16, int16, bool) {
	r := kmsg.RequestForKey(key)
	if r == nil {
		return 0, 0, false
	}
	return 0, r.MaxVersion(), true
}

func (allHandler) Serve(r *Request) { r.Respond(r.Msg.ResponseKind()) }

// fuzzConn is a conn that is never read from or written to: decode only.
func fuzzConn() *conn {
	s := NewServer(Config{}, allHandler{})
	a, b := net.Pipe()
	a.Close()
	b.Close()
	return s.newConn(a, "PLAINTEXT", 1)
}

// requestSeeds are every request kmsg knows at every version, with
// defaults, framed without the size.
func requestSeeds() [][]byte {
	var out [][]byte
	var f kmsg.RequestFormatter
	for key := int16(0); key < 200; key++ {
		r := kmsg.RequestForKey(key)
		if r == nil {
			continue
		}
		for v := int16(0); v <= r.MaxVersion(); v++ {
			out = append(out, f.AppendRequest(nil, defaultRequest(key, v), 1)[4:])
		}
	}
	return out
}

// FuzzRequestHeader: any bytes parse as a request header or fail; what
// parses stays inside the frame.
func FuzzRequestHeader(f *testing.F) {
	for _, s := range requestSeeds()[:40] {
		f.Add(s)
	}
	f.Add([]byte{0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0x80})
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, rest, err := parseHeader(frame)
		if err != nil {
			return
		}
		if len(h.clientID)+len(rest)+minFrame != len(frame) {
			t.Fatalf("client id %d and rest %d do not add up to %d", len(h.clientID), len(rest), len(frame))
		}
		if tail, err := skipHeaderTags(rest); err == nil && len(tail) > len(rest) {
			t.Fatal("tags grew the frame")
		}
	})
}

// FuzzRequest decodes arbitrary frames as the reader does: nothing may
// panic (kmsg's decoder is also called without the reader's recover, so a
// panic in it is seen here rather than hidden as a closed connection), and
// what decodes holds no more memory than the reader charged for it.
func FuzzRequest(f *testing.F) {
	for _, s := range requestSeeds() {
		f.Add(s)
	}
	c := fuzzConn()
	f.Fuzz(func(t *testing.T, frame []byte) {
		frame = bytes.Clone(frame)     // decode aliases it
		req, err := c.decode(frame, 0) // nothing charged: nothing to release
		if h, rest, herr := parseHeader(frame); herr == nil {
			if msg := kmsg.RequestForKey(h.key); msg != nil && h.version >= 0 && h.version <= msg.MaxVersion() {
				msg.SetVersion(h.version)
				if msg.IsFlexible() {
					rest, _ = skipHeaderTags(rest)
				}
				msg.ReadFrom(rest) // must not panic
			}
		}
		if err != nil || req.Msg == nil || req.answered() {
			return
		}
		n := int64(len(frame))
		// Produce and Fetch come from pools whose messages keep the
		// slices of earlier requests: what one decode allocates is what
		// a fresh message holds after it.
		msg := req.Msg
		h, rest, _ := parseHeader(frame)
		body, _ := requestBody(h, rest)
		if req.pooled != nil {
			switch req.Key {
			case produceKey:
				m := new(produceMsg)
				decodeProduce(m, req.Version, body)
				msg = &m.ProduceRequest
			case 1:
				m := new(fetchMsg)
				decodeFetch(m, req.Version, body)
				msg = &m.FetchRequest
			}
		}
		held := decodedSize(msg)
		if held > n*decodeAmplification+4096 {
			t.Fatalf("%s v%d: %d bytes decode to %d, more than %dx", kmsg.NameForKey(req.Key), req.Version, n, held, decodeAmplification)
		}
		if req.Key == produceKey {
			want, shaped := produceCost(req.Version, body, n)
			if !shaped {
				t.Fatal("kmsg decoded a produce request the shape walk does not")
			}
			if want-n < held-int64(len(frame)) {
				t.Fatalf("produce charged %d beyond its frame, holds %d", want-n, held)
			}
		}
	})
}

// TestWriteFuzzSeeds writes the committed seed corpora of this package's
// fuzz targets when POTOK_WRITE_FUZZ_SEEDS is set.
func TestWriteFuzzSeeds(t *testing.T) {
	if !writeSeeds() {
		t.Skip("set POTOK_WRITE_FUZZ_SEEDS=1 to regenerate")
	}
	var f kmsg.RequestFormatter
	frame := func(r kmsg.Request) []byte { return f.AppendRequest(nil, r, 7)[4:] }
	tagged := taggedMetadata(400)[4:]
	produce := tinyPartitions(200)[4:]
	flexProduce := kmsg.NewPtrProduceRequest()
	flexProduce.Version = 11
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	for i := range 10 {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = int32(i)
		rp.UnknownTags.Set(uint32(i), []byte("tag"))
		rt.Partitions = append(rt.Partitions, rp)
	}
	flexProduce.Topics = []kmsg.ProduceRequestTopic{rt}
	api := kmsg.NewPtrApiVersionsRequest()
	api.Version = 9
	tls := []byte{0x16, 0x03, 0x01, 0x02, 0, 1, 0, 0x01, 0xfc, 0x03, 0x03}
	headerTags := binary.BigEndian.AppendUint16(nil, 3)
	headerTags = append(binary.BigEndian.AppendUint16(headerTags, 12), 0, 0, 0, 1, 0, 0, 3, 1, 2, 0)
	writeCorpus(t, "FuzzRequest", map[string][][]byte{
		"metadata-tagged-topics":    {tagged},
		"produce-null-partitions":   {produce},
		"produce-tagged-partitions": {frame(flexProduce)},
		"apiversions-above-max":     {frame(api)},
		"tls-client-hello":          {tls},
		"header-tags":               {headerTags},
		"array-length-max":          {append(bytes.Clone(tagged[:12]), 0xff, 0xff, 0xff, 0xff, 0x0f)},
	})
	writeCorpus(t, "FuzzRequestHeader", map[string][][]byte{
		"client-id-too-long": {{0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 'x'}},
		"null-client-id":     {{0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0}},
		"header-tags":        {headerTags},
	})
}
