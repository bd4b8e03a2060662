package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// minFrame is the smallest request: api key, api version, correlation id and
// a client id length.
const minFrame = 2 + 2 + 4 + 2

// errMalformed is wrapped by every error that means "the client sent bytes
// that are not a valid request"; the connection is closed.
var errMalformed = errors.New("protocol: malformed request")

// header is a parsed request header (v1 or v2).
type header struct {
	key, version int16
	correlation  int32
	clientID     []byte // aliases the frame; nil when null or empty
}

// parseHeader reads the request header. The client id is a classic nullable
// int16 string in every header version; the tag section that follows it in
// header v2 is skipped by the caller once it knows the version is flexible.
func parseHeader(frame []byte) (header, []byte, error) {
	if len(frame) < minFrame {
		return header{}, nil, fmt.Errorf("%w: %d byte header", errMalformed, len(frame))
	}
	h := header{
		key:         int16(binary.BigEndian.Uint16(frame[0:])),
		version:     int16(binary.BigEndian.Uint16(frame[2:])),
		correlation: int32(binary.BigEndian.Uint32(frame[4:])),
	}
	n := int(int16(binary.BigEndian.Uint16(frame[8:])))
	rest := frame[10:]
	if n > 0 {
		if n > len(rest) {
			return header{}, nil, fmt.Errorf("%w: client id length %d", errMalformed, n)
		}
		h.clientID = rest[:n:n]
		rest = rest[n:]
	}
	return h, rest, nil
}

// skipHeaderTags skips the tagged fields of a v2 request header.
func skipHeaderTags(b []byte) ([]byte, error) {
	d := decoder{b: b}
	d.skipTags()
	if d.err {
		return nil, fmt.Errorf("%w: header tags", errMalformed)
	}
	return d.b, nil
}

// responseHeaderFlexible reports whether a response uses header v1 (with a
// tag section). ApiVersions always answers with header v0 (KIP-511), so that
// a client can read it whatever version it asked for.
func responseHeaderFlexible(key int16, flexible bool) bool {
	return flexible && key != 18
}
