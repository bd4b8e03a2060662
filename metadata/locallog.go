package metadata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

const (
	logName     = "metadata.log"
	frameHeader = 8
	// maxFrame bounds one record; a larger length field is corruption.
	maxFrame = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// LocalLog is the single-node metadata log: an append-only file of framed
// records, fdatasynced on every append.
type LocalLog struct {
	dir  string
	f    *os.File
	size int64
	next int64 // offset the next record gets
}

// OpenLocalLog opens (creating if needed) the log in dir and replays it
// into fn, in order. A torn or corrupt tail is truncated.
func OpenLocalLog(dir string, fn func(offset int64, r Record) error) (*LocalLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	path := filepath.Join(dir, logName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("metadata: read %s: %w", path, err)
	}
	l := &LocalLog{dir: dir, f: f}
	valid, err := scanFrames(data, func(payload []byte) error {
		return eachRecord(payload, func(r Record) error {
			if ls, ok := r.(*logStartRecord); ok {
				l.next = ls.BaseOffset
				return nil
			}
			if err := fn(l.next, r); err != nil {
				return err
			}
			l.next++
			return nil
		})
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("metadata: %s at byte %d: %w", path, valid, err)
	}
	if valid < int64(len(data)) {
		// A torn tail from a crash mid-append: the record was never
		// acknowledged, so dropping it loses nothing.
		if err := f.Truncate(valid); err != nil {
			f.Close()
			return nil, fmt.Errorf("metadata: truncate torn tail of %s: %w", path, err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			f.Close()
			return nil, fmt.Errorf("metadata: sync %s: %w", path, err)
		}
	}
	if _, err := f.Seek(valid, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("metadata: %w", err)
	}
	l.size = valid
	return l, nil
}

// scanFrames calls fn for each whole, checksummed frame and returns how many
// bytes were valid. A short or bad frame ends the scan without error (the
// tail is torn); an error from fn stops it with that error.
func scanFrames(data []byte, fn func(payload []byte) error) (int64, error) {
	var off int64
	for int64(len(data))-off >= frameHeader {
		n := int64(binary.BigEndian.Uint32(data[off:]))
		crc := binary.BigEndian.Uint32(data[off+4:])
		if n > maxFrame || int64(len(data))-off-frameHeader < n {
			break
		}
		payload := data[off+frameHeader : off+frameHeader+n]
		if crc32.Checksum(payload, castagnoli) != crc {
			break
		}
		if err := fn(payload); err != nil {
			return off, err
		}
		off += frameHeader + n
	}
	return off, nil
}

// NextOffset is the offset the next appended record gets.
func (l *LocalLog) NextOffset() int64 { return l.next }

// Size is the file size in bytes.
func (l *LocalLog) Size() int64 { return l.size }

// Append writes records durably, all or none, and returns the offset of the
// first.
func (l *LocalLog) Append(recs []Record) (int64, error) {
	buf, err := appendFrame(nil, recs)
	if err != nil {
		return 0, err
	}
	if _, err := l.f.Write(buf); err != nil {
		// Do not leave a partial frame for the next append to follow.
		l.f.Truncate(l.size)
		l.f.Seek(l.size, io.SeekStart)
		return 0, fmt.Errorf("metadata: append: %w", err)
	}
	if err := unix.Fdatasync(int(l.f.Fd())); err != nil {
		return 0, fmt.Errorf("metadata: sync: %w", err)
	}
	first := l.next
	l.size += int64(len(buf))
	l.next += int64(len(recs))
	return first, nil
}

// appendFrame frames recs as one unit: a crash keeps all of them or none.
// The payload is a sequence of uvarint-length-prefixed records.
func appendFrame(buf []byte, recs []Record) ([]byte, error) {
	start := len(buf)
	buf = append(buf, make([]byte, frameHeader)...)
	var rec []byte
	for _, r := range recs {
		var err error
		if rec, err = EncodeRecord(rec[:0], r); err != nil {
			return nil, err
		}
		buf = binary.AppendUvarint(buf, uint64(len(rec)))
		buf = append(buf, rec...)
	}
	payload := buf[start+frameHeader:]
	if len(payload) > maxFrame {
		return nil, fmt.Errorf("metadata: %d records of %d bytes exceed the frame limit", len(recs), len(payload))
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf, nil
}

// eachRecord decodes the records of one frame payload.
func eachRecord(payload []byte, fn func(Record) error) error {
	for len(payload) > 0 {
		n, k := binary.Uvarint(payload)
		if k <= 0 || n > uint64(len(payload)-k) {
			return errors.New("bad record length")
		}
		r, err := DecodeRecord(payload[k : k+int(n)])
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		payload = payload[k+int(n):]
	}
	return nil
}

// Rewrite replaces the log with recs (a snapshot of the image), atomically:
// a crash leaves either the old log or the new one.
// The records keep their offsets: the last of them takes the offset of the
// last record appended so far.
func (l *LocalLog) Rewrite(recs []Record) error {
	base := l.next - int64(len(recs))
	// A snapshot may exceed one frame; it is written to a new file and
	// renamed into place, so frames need not make it atomic.
	buf, err := appendFrame(nil, []Record{&logStartRecord{BaseOffset: base}})
	if err != nil {
		return err
	}
	for i := 0; i < len(recs); i += 1024 {
		if buf, err = appendFrame(buf, recs[i:min(i+1024, len(recs))]); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	tmp := filepath.Join(l.dir, logName+".tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("metadata: rewrite: %w", err)
	}
	if _, err = f.Write(buf); err == nil {
		err = unix.Fdatasync(int(f.Fd()))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("metadata: rewrite: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(l.dir, logName)); err != nil {
		f.Close()
		return fmt.Errorf("metadata: rewrite: %w", err)
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return err
	}
	l.f.Close()
	l.f = f
	l.size = int64(len(buf))
	return nil
}

// Close closes the file.
func (l *LocalLog) Close() error {
	if l.f == nil {
		return errors.New("metadata: log closed")
	}
	err := l.f.Close()
	l.f = nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("metadata: sync dir %s: %w", dir, err)
	}
	return nil
}
