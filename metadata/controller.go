package metadata

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Controller is the single writer of the metadata log: admin operations
// turn into records under its lock, the records are committed durably, and
// the new Image is published to readers and subscribers. This is the
// single-node controller; a cluster puts a replicated log behind the same
// Commit.
type Controller struct {
	mu   sync.Mutex
	log  *LocalLog // guarded by mu
	subs []func(old, next *Image)

	image atomic.Pointer[Image]
}

// ErrNoChange may be returned by a Commit builder to commit nothing.
var ErrNoChange = errors.New("metadata: nothing to commit")

// OpenController replays the metadata log in dir into an image. A log much
// longer than the image it builds is rewritten as a snapshot.
func OpenController(dir string) (*Controller, error) {
	im := EmptyImage()
	var pending []Record
	first := int64(-1)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		next, err := im.Apply(first, pending)
		if err != nil {
			return err
		}
		im, pending = next, pending[:0]
		return nil
	}
	var replayed int
	log, err := OpenLocalLog(dir, func(off int64, r Record) error {
		if len(pending) == 0 {
			first = off
		}
		pending = append(pending, r)
		replayed++
		if len(pending) >= 1024 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		log.Close()
		return nil, err
	}
	c := &Controller{log: log}
	c.image.Store(im)
	if snap := im.Records(); replayed > 1000 && replayed > 2*len(snap) {
		if err := log.Rewrite(snap); err != nil {
			log.Close()
			return nil, err
		}
	}
	return c, nil
}

// Image returns the current image.
func (c *Controller) Image() *Image { return c.image.Load() }

// Subscribe registers fn to be called, in commit order and under the
// controller lock, after each commit. fn must not call Commit.
func (c *Controller) Subscribe(fn func(old, next *Image)) {
	c.mu.Lock()
	c.subs = append(c.subs, fn)
	c.mu.Unlock()
}

// Commit calls build with the current image under the controller lock, so
// that validation and the records it produces see no concurrent change,
// then commits the records durably and publishes the new image.
func (c *Controller) Commit(build func(im *Image) ([]Record, error)) (*Image, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.log == nil {
		return nil, errors.New("metadata: controller closed")
	}
	old := c.image.Load()
	recs, err := build(old)
	if err != nil {
		if errors.Is(err, ErrNoChange) {
			return old, nil
		}
		return nil, err
	}
	if len(recs) == 0 {
		return old, nil
	}
	// Apply first: a record the image rejects must never reach the log.
	next, err := old.Apply(c.log.NextOffset(), recs)
	if err != nil {
		return nil, fmt.Errorf("metadata: invalid records: %w", err)
	}
	if _, err := c.log.Append(recs); err != nil {
		return nil, err
	}
	c.image.Store(next)
	for _, fn := range c.subs {
		fn(old, next)
	}
	return next, nil
}

// Close closes the log.
func (c *Controller) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.log == nil {
		return nil
	}
	err := c.log.Close()
	c.log = nil
	return err
}
