package protocol

import (
	"encoding/binary"
	"fmt"
	"io"
)

// readRequest reads and decodes the frame of n bytes whose size the reader
// just read, charging what it will hold to queued.max.request.bytes (see
// cost.go). A nil request and nil error mean the server is stopping.
func (c *conn) readRequest(n int64) (*Request, error) {
	s := c.srv
	// The API key and version are in the first bytes of every frame
	// (n >= minFrame); they decide the frame limit and the charge before
	// anything is allocated.
	head, err := c.br.Peek(4)
	if err != nil {
		return nil, err
	}
	key := int16(binary.BigEndian.Uint16(head))
	version := int16(binary.BigEndian.Uint16(head[2:]))
	if limit := s.frameLimit(key); n > limit {
		return nil, fmt.Errorf("%w: api key %d frame of %d bytes (limit %d)", errMalformed, key, n, limit)
	}
	// A worst case beyond the whole budget is served alone (acquire lets
	// one charge exceed the budget when nothing else is held), as every
	// legal frame must be: it is bounded by the frame limit.
	cost := decodeCost(key, n)
	if err := s.mem.acquire(cost); err != nil {
		return nil, nil // shutting down
	}
	frame := getBuf(int(n))
	fail := func(err error) (*Request, error) {
		s.mem.release(cost)
		putBuf(frame)
		return nil, err
	}
	if _, err := io.ReadFull(c.br, frame); err != nil {
		return fail(err)
	}
	h, rest, err := parseHeader(frame)
	if err != nil {
		return fail(err)
	}
	if key == produceKey {
		if body, err := requestBody(h, rest); err == nil {
			want, _ := produceCost(version, body, n)
			if !s.mem.fits(want, n) {
				return fail(fmt.Errorf("%w: produce request of %d bytes names partitions that would hold %d bytes decoded, more than queued.max.request.bytes", errMalformed, n, want))
			}
			if err := s.mem.adjust(cost, want); err != nil {
				putBuf(frame)
				return nil, nil // shutting down; adjust released what it held
			}
			cost = want
		}
	}
	req, err := c.decodeParsed(h, rest, frame, cost) // releases cost and frame on error
	if err != nil {
		return nil, err
	}
	if key != produceKey && req.Msg != nil {
		// The worst case was charged for decoding; keep what the
		// decoded request really holds.
		held := n + requestOverhead + decodedSize(req.Msg)
		s.mem.adjust(cost, min(held, cost)) // shrinking never fails
		cost = min(held, cost)
	}
	req.mem, req.size = cost, n
	return req, nil
}

// requestBody is what follows a parsed request header: its tagged fields
// are skipped in flexible versions.
func requestBody(h header, rest []byte) ([]byte, error) {
	if flexibleRequest(h.key, h.version) {
		return skipHeaderTags(rest)
	}
	return rest, nil
}
