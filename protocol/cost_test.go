package protocol

import (
	"reflect"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// arrayCase fills one array of a request with k default elements (and
// every array above it with one element) and undoes that.
type arrayCase struct {
	path string
	fill func(k int, tags bool) (undo func())
}

// arrayCases finds every array of structs or of non-byte primitives in the
// struct v, up to three levels deep.
func arrayCases(v reflect.Value, path string, depth int) []arrayCase {
	var out []arrayCase
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.Slice || f.Type.Elem().Kind() == reflect.Uint8 {
			continue
		}
		fv := v.Field(i)
		et := f.Type.Elem()
		p := path + "." + f.Name
		out = append(out, arrayCase{p, func(k int, tags bool) func() {
			old := reflect.ValueOf(fv.Interface())
			s := reflect.MakeSlice(f.Type, k, k)
			if et.Kind() == reflect.Struct {
				for j := range k {
					s.Index(j).Set(defaultElem(et, tags, j))
				}
			}
			fv.Set(s)
			return func() { fv.Set(old) }
		}})
		if et.Kind() != reflect.Struct || depth >= 3 {
			continue
		}
		one := reflect.MakeSlice(f.Type, 1, 1)
		one.Index(0).Set(defaultElem(et, false, 0))
		for _, inner := range arrayCases(one.Index(0), p+"[0]", depth+1) {
			out = append(out, arrayCase{inner.path, func(k int, tags bool) func() {
				old := reflect.ValueOf(fv.Interface())
				fv.Set(one)
				undo := inner.fill(k, tags)
				return func() { undo(); fv.Set(old) }
			}})
		}
	}
	return out
}

// defaultElem returns a kmsg struct with its defaults, and one unknown
// tagged field if tags is set (it is encoded only in flexible versions).
func defaultElem(t reflect.Type, tags bool, i int) reflect.Value {
	p := reflect.New(t)
	if d, ok := p.Interface().(interface{ Default() }); ok {
		d.Default()
	}
	if tags {
		if tf := p.Elem().FieldByName("UnknownTags"); tf.IsValid() {
			tf.Addr().Interface().(*kmsg.Tags).Set(uint32(i%100+1), nil)
		}
	}
	return p.Elem()
}

func defaultRequest(key, version int16) kmsg.Request {
	req := kmsg.RequestForKey(key)
	if d, ok := req.(interface{ Default() }); ok {
		d.Default()
	}
	req.SetVersion(version)
	return req
}

func heapAllocated(f func()) int64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return int64(b.TotalAlloc - a.TotalAlloc)
}

// TestDecodeAmplification measures, for every request kmsg decodes, at
// every version, and for every array in it (with and without an unknown
// tag per element), the heap bytes one element costs against the bytes it
// takes on the wire. The worst must stay within decodeAmplification, which
// the reader charges before decoding; and decodedSize, which the charge
// drops to afterwards, must be close to what was really allocated.
func TestDecodeAmplification(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures the allocations of every request; the race detector changes them")
	}
	const k = 2000
	var worst float64
	var worstName string
	cases := 0
	for key := int16(0); key < 200; key++ {
		if kmsg.RequestForKey(key) == nil {
			continue
		}
		for version := int16(0); version <= kmsg.RequestForKey(key).MaxVersion(); version++ {
			req := defaultRequest(key, version)
			for _, c := range arrayCases(reflect.ValueOf(req).Elem(), "", 0) {
				for _, tags := range []bool{false, true} {
					undo := c.fill(0, tags)
					base := req.AppendTo(nil)
					undo()
					undo = c.fill(k, tags)
					big := req.AppendTo(nil)
					undo()
					if len(big)-len(base) < k {
						continue // the array is not in this version
					}
					var err error
					var decoded kmsg.Request
					used := heapAllocated(func() {
						decoded = defaultRequest(key, version)
						err = decoded.ReadFrom(big)
					})
					if err != nil {
						continue // an element's defaults are not valid here
					}
					cases++
					perByte := float64(used) / float64(len(big))
					name := kmsg.NameForKey(key) + " v" + string(rune('0'+version/10)) + string(rune('0'+version%10)) + " " + c.path
					if tags {
						name += " (tagged)"
					}
					if perByte > worst {
						worst, worstName = perByte, name
					}
					if perByte > decodeAmplification {
						t.Errorf("%s: %d bytes decode to %d (%.1f per byte), more than decodeAmplification", name, len(big), used, perByte)
					}
					if est := decodedSize(decoded); float64(est) < 0.6*float64(used) || float64(est) > 2*float64(used)+4096 {
						t.Errorf("%s: decodedSize says %d bytes, %d were allocated", name, est, used)
					}
				}
			}
		}
	}
	t.Logf("%d arrays measured; worst %.1f heap bytes per wire byte: %s", cases, worst, worstName)
	if cases < 500 {
		t.Fatalf("only %d arrays measured", cases)
	}
}

// TestProduceShape checks the counting walk against kmsg's own decoding,
// for every Produce version.
func TestProduceShape(t *testing.T) {
	for v := int16(3); v <= 13; v++ {
		req := kmsg.NewPtrProduceRequest()
		req.Version = v
		txn := "txn"
		req.TransactionID = &txn
		for i := range 3 {
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "topic"
			rt.TopicID = [16]byte{byte(i + 1)}
			for j := range i + 2 {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition = int32(j)
				if j%2 == 0 {
					rp.Records = make([]byte, 100*j)
				}
				rp.UnknownTags.Set(uint32(j+1), []byte("x"))
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		req.UnknownTags.Set(9, []byte("yy"))
		body := req.AppendTo(nil)
		topics, parts, tags, ok := produceShape(v, body)
		wantTags := int64(0)
		if v >= 9 {
			wantTags = 2 + 3 + 4 + 1
		}
		if !ok || topics != 3 || parts != 9 || tags != wantTags {
			t.Fatalf("v%d: %d topics, %d partitions, %d tags, ok %v", v, topics, parts, tags, ok)
		}
		if _, _, _, ok := produceShape(v, body[:len(body)-1]); ok {
			t.Fatalf("v%d: a truncated body has Produce's shape", v)
		}
	}
}

// FuzzProduceShape: whenever kmsg decodes a Produce body, the counting walk
// agrees with it on the topics and partitions decoded.
func FuzzProduceShape(f *testing.F) {
	for v := int16(3); v <= 13; v++ {
		req := kmsg.NewPtrProduceRequest()
		req.Version = v
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "t"
		rt.Partitions = []kmsg.ProduceRequestTopicPartition{kmsg.NewProduceRequestTopicPartition()}
		req.Topics = []kmsg.ProduceRequestTopic{rt, rt}
		f.Add(v, req.AppendTo(nil))
	}
	f.Fuzz(func(t *testing.T, version int16, body []byte) {
		version = 3 + (version&0x7fff)%11
		topics, parts, _, ok := produceShape(version, body)
		req := kmsg.NewPtrProduceRequest()
		req.Version = version
		if err := req.ReadFrom(body); err != nil {
			return
		}
		n := 0
		for _, rt := range req.Topics {
			n += len(rt.Partitions)
		}
		if !ok || topics != int64(len(req.Topics)) || parts != int64(n) {
			t.Fatalf("walk: %d topics %d partitions (ok %v); kmsg: %d topics %d partitions", topics, parts, ok, len(req.Topics), n)
		}
	})
}

func BenchmarkDecodedSizeFetch(b *testing.B) {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	for i := range 10 {
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "some-topic-name"
		for j := range 10 {
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition = int32(i*10 + j)
			ft.Partitions = append(ft.Partitions, fp)
		}
		req.Topics = append(req.Topics, ft)
	}
	for b.Loop() {
		decodedSize(req)
	}
}
