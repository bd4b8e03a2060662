package broker

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzRequests sends arbitrary frames to a running broker: every API at
// several versions as seeds, mutated. Nothing may panic, and a separate
// connection must still be served afterwards.
func FuzzRequests(f *testing.F) {
	var fm kmsg.RequestFormatter
	for _, a := range registry() {
		for v := a.min; v <= a.max; v++ {
			req := kmsg.RequestForKey(a.key)
			req.SetVersion(v)
			if d, ok := req.(interface{ Default() }); ok {
				d.Default()
			}
			f.Add(fm.AppendRequest(nil, req, 1)[4:])
		}
	}
	b := startBroker(f, f.TempDir(), "auto.create.topics.enable=false")
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, err := net.Dial("tcp", b.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		msg := binary.BigEndian.AppendUint32(nil, uint32(len(frame)))
		c.Write(append(msg, frame...))
		br := bufio.NewReader(c)
		var size [4]byte
		if _, err := io.ReadFull(br, size[:]); err == nil {
			n := binary.BigEndian.Uint32(size[:])
			if n > 64<<20 {
				t.Fatalf("response of %d bytes", n)
			}
			io.CopyN(io.Discard, br, int64(n))
		}
		if p := b.server.HandlerPanics(); p != 0 {
			t.Fatalf("%d handler panics (see the log)", p)
		}
		checkAlive(t, b)
	})
}

// checkAlive verifies a fresh connection is served.
func checkAlive(t *testing.T, b *Broker) {
	t.Helper()
	c, err := net.Dial("tcp", b.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var fm kmsg.RequestFormatter
	c.Write(fm.AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 9))
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || binary.BigEndian.Uint32(hdr[4:]) != 9 {
		t.Fatalf("broker stopped serving: %v", err)
	}
}
