package logstore

import (
	"bytes"
	"fmt"
	"strconv"
)

// epochEntry says that leader epoch Epoch wrote its first batch at
// StartOffset.
type epochEntry struct {
	epoch int32
	start int64
}

// epochCache is Kafka's LeaderEpochFileCache: the (epoch, start offset) pairs
// of the partition's history, ascending in both. Guarded by the log.
type epochCache struct {
	entries []epochEntry
}

func (c *epochCache) latest() int32 {
	if len(c.entries) == 0 {
		return -1
	}
	return c.entries[len(c.entries)-1].epoch
}

// assign records that epoch starts at start, if it is newer than the latest.
// It reports whether the cache changed.
func (c *epochCache) assign(epoch int32, start int64) bool {
	if epoch < 0 {
		return false
	}
	if n := len(c.entries); n > 0 {
		last := c.entries[n-1]
		if epoch <= last.epoch {
			return false
		}
		// Entries must stay ascending in offset too: drop any that start
		// later (Kafka's assign does the same to keep the cache monotonic).
		for len(c.entries) > 0 && c.entries[len(c.entries)-1].start > start {
			c.entries = c.entries[:len(c.entries)-1]
		}
	}
	c.entries = append(c.entries, epochEntry{epoch, start})
	return true
}

// endOffsetFor is LeaderEpochFileCache.endOffsetFor: for the latest epoch
// the log end; otherwise the largest epoch <= requested and the start offset
// of the next larger epoch; (-1, -1) below the earliest epoch or when empty.
func (c *epochCache) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	n := len(c.entries)
	if n == 0 || epoch < c.entries[0].epoch {
		return -1, -1
	}
	if epoch == c.entries[n-1].epoch {
		return epoch, leo
	}
	if epoch > c.entries[n-1].epoch {
		// Newer than anything we know: Kafka answers (-1, -1) too.
		return -1, -1
	}
	// Greatest entry with epoch <= requested, then the next one.
	i := n - 1
	for i >= 0 && c.entries[i].epoch > epoch {
		i--
	}
	return c.entries[i].epoch, c.entries[i+1].start
}

// epochFor returns the epoch of the entry covering offset, -1 if unknown.
func (c *epochCache) epochFor(off int64) int32 {
	e := int32(-1)
	for _, x := range c.entries {
		if x.start > off {
			break
		}
		e = x.epoch
	}
	return e
}

// truncateFromEnd removes entries starting at or after end.
func (c *epochCache) truncateFromEnd(end int64) bool {
	n := len(c.entries)
	for len(c.entries) > 0 && c.entries[len(c.entries)-1].start >= end {
		c.entries = c.entries[:len(c.entries)-1]
	}
	return len(c.entries) != n
}

// truncateFromStart drops entries wholly below start and moves the one
// covering start up to it.
func (c *epochCache) truncateFromStart(start int64) bool {
	i := 0
	for i+1 < len(c.entries) && c.entries[i+1].start <= start {
		i++
	}
	changed := i > 0
	c.entries = append(c.entries[:0], c.entries[i:]...)
	if len(c.entries) > 0 && c.entries[0].start < start {
		c.entries[0].start = start
		changed = true
	}
	return changed
}

// encode writes Kafka's leader-epoch-checkpoint text format.
func (c *epochCache) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.start)
	}
	return b.Bytes()
}

// decodeEpochs parses a leader-epoch-checkpoint, requiring ascending entries.
func decodeEpochs(data []byte) ([]epochEntry, error) {
	lines, err := checkpointLines(data)
	if err != nil {
		return nil, err
	}
	out := make([]epochEntry, 0, len(lines))
	for _, f := range lines {
		if len(f) != 2 {
			return nil, fmt.Errorf("logstore: leader-epoch-checkpoint: bad line %q", bytes.Join(f, []byte(" ")))
		}
		ep, err1 := strconv.ParseInt(string(f[0]), 10, 32)
		off, err2 := strconv.ParseInt(string(f[1]), 10, 64)
		if err1 != nil || err2 != nil || ep < 0 || off < 0 {
			return nil, fmt.Errorf("logstore: leader-epoch-checkpoint: bad line %q", bytes.Join(f, []byte(" ")))
		}
		if n := len(out); n > 0 && (int32(ep) <= out[n-1].epoch || off < out[n-1].start) {
			return nil, fmt.Errorf("logstore: leader-epoch-checkpoint: entries out of order")
		}
		out = append(out, epochEntry{int32(ep), off})
	}
	return out, nil
}

// checkpointLines parses Kafka's checkpoint text layout: "0\n<count>\n"
// then count lines of space-separated fields.
func checkpointLines(data []byte) ([][][]byte, error) {
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) < 2 || string(lines[0]) != "0" {
		return nil, fmt.Errorf("logstore: checkpoint: bad header")
	}
	n, err := strconv.Atoi(string(lines[1]))
	if err != nil || n < 0 || n != len(lines)-2 {
		return nil, fmt.Errorf("logstore: checkpoint: count %q does not match %d lines", lines[1], len(lines)-2)
	}
	out := make([][][]byte, n)
	for i := range out {
		out[i] = bytes.Fields(lines[i+2])
	}
	return out, nil
}
