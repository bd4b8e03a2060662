package logstore

import (
	"errors"
	"fmt"
	"os"
)

// Errors returned by the log. Callers test them with errors.Is; the returned
// errors wrap them with the details (offsets, file names).
var (
	// ErrOffsetOutOfRange: an offset below the log start or above the log end.
	ErrOffsetOutOfRange = errors.New("logstore: offset out of range")
	// ErrOutOfOrderSequence: a producer's sequence does not follow its last
	// (OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("logstore: out of order sequence number")
	// ErrDuplicateSequence: a retried batch older than the five the log
	// remembers per producer (DUPLICATE_SEQUENCE_NUMBER).
	ErrDuplicateSequence = errors.New("logstore: duplicate sequence number")
	// ErrInvalidProducerEpoch: a batch or marker from a fenced producer epoch.
	ErrInvalidProducerEpoch = errors.New("logstore: invalid producer epoch")
	// ErrStorage wraps a failure of the disk: ENOSPC, EIO, a failed fsync.
	ErrStorage = errors.New("logstore: storage error")
	// ErrClosed: the log or manager was closed or deleted.
	ErrClosed = errors.New("logstore: closed")
	// ErrCorrupt: bytes on disk that cannot be what the log wrote.
	ErrCorrupt = errors.New("logstore: corrupt data")
	// ErrTruncated: a durable append's data was truncated away before it
	// was synced.
	ErrTruncated = errors.New("logstore: truncated before synced")
	// ErrInvalidBatch: bytes handed to Append that are not whole v2 batches,
	// or follower batches whose offsets do not continue the log.
	ErrInvalidBatch = errors.New("logstore: invalid batch")
)

// storageError marks an I/O error as ErrStorage while keeping the cause
// (errors.Is(err, unix.ENOSPC) still works).
type storageError struct{ err error }

func (e *storageError) Error() string { return e.err.Error() }
func (e *storageError) Unwrap() []error {
	return []error{ErrStorage, e.err}
}

// storageErr wraps err as ErrStorage unless it already is one. A path
// error is unwrapped to its cause: the callers name the file themselves.
func storageErr(err error) error {
	if err == nil || errors.Is(err, ErrStorage) {
		return err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return &storageError{err}
}

// rangeError is ErrOffsetOutOfRange with the offsets that make it so.
type rangeError struct{ off, start, end int64 }

func (e *rangeError) Error() string {
	return fmt.Sprintf("logstore: offset %d out of range [%d, %d]", e.off, e.start, e.end)
}
func (e *rangeError) Is(target error) bool { return target == ErrOffsetOutOfRange }

// outOfRange reports off outside the closed range [start, end].
func outOfRange(off, start, end int64) error { return &rangeError{off, start, end} }

var errTruncated = ErrTruncated
