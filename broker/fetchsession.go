package broker

// Fetch sessions (KIP-227). A client that sends session id 0 and epoch 0
// asks for a session: the broker remembers the partitions of that full
// fetch and answers with a session id. The client's next fetches are
// incremental: they carry only the partitions whose fetch position changed
// (and forgotten ones), and the answer carries only the partitions with
// something new — records, a moved high watermark, last stable offset or log
// start offset, or an error. Epochs number the exchanges; a stale or unknown
// session gets INVALID_FETCH_SESSION_EPOCH or FETCH_SESSION_ID_NOT_FOUND and
// the client starts over with a full fetch. Epoch -1 closes a session.
//
// The cache holds at most fetchSessionSlots sessions (Kafka's
// max.incremental.fetch.session.cache.slots); when full, a session unused
// for fetchSessionIdle is evicted, else the new client gets no session
// (session id 0), which is always legal.

import (
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/potok-io/potok/metadata"
)

const (
	fetchSessionSlots = 1000
	fetchSessionIdle  = 2 * time.Minute
)

// sessionKey names a partition within a session: by topic id from Fetch
// v13, by name before.
type sessionKey struct {
	topic string
	id    metadata.Uuid
	part  int32
}

// sessionPartition is what a session remembers of one partition: the
// client's last request parameters and what it was last told.
type sessionPartition struct {
	key          sessionKey
	fetchOffset  int64
	maxBytes     int32
	leaderEpoch  int32
	sentHW       int64
	sentLSO      int64
	sentLogStart int64
}

type fetchSession struct {
	id     int32
	byID   bool // created by a v13+ fetch
	mu     sync.Mutex
	epoch  int32 // guarded by mu; the epoch the next request must carry
	parts  []*sessionPartition
	index  map[sessionKey]*sessionPartition
	used   time.Time // guarded by fetchSessions.mu
	closed bool      // guarded by mu
}

type fetchSessions struct {
	mu       sync.Mutex
	sessions map[int32]*fetchSession
}

func (c *fetchSessions) get(id int32) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[id]
	if s != nil {
		s.used = time.Now()
	}
	return s
}

func (c *fetchSessions) remove(id int32) {
	c.mu.Lock()
	s := c.sessions[id]
	delete(c.sessions, id)
	c.mu.Unlock()
	if s != nil {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}
}

// create makes a session, or returns nil when the cache is full of recently
// used sessions.
func (c *fetchSessions) create(byID bool) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions == nil {
		c.sessions = map[int32]*fetchSession{}
	}
	now := time.Now()
	if len(c.sessions) >= fetchSessionSlots {
		var oldest *fetchSession
		for _, s := range c.sessions {
			if oldest == nil || s.used.Before(oldest.used) {
				oldest = s
			}
		}
		if now.Sub(oldest.used) < fetchSessionIdle {
			return nil
		}
		delete(c.sessions, oldest.id)
	}
	s := &fetchSession{byID: byID, epoch: 1, index: map[sessionKey]*sessionPartition{}, used: now}
	for {
		s.id = rand.Int32()
		if _, taken := c.sessions[s.id]; s.id > 0 && !taken {
			break
		}
	}
	c.sessions[s.id] = s
	return s
}

// upsert adds or updates a partition from a request.
func (s *fetchSession) upsert(k sessionKey, fetchOffset int64, maxBytes, leaderEpoch int32) {
	if sp, ok := s.index[k]; ok {
		sp.fetchOffset, sp.maxBytes, sp.leaderEpoch = fetchOffset, maxBytes, leaderEpoch
		return
	}
	// A name from a request aliases its frame: the session keeps a copy.
	k.topic = strings.Clone(k.topic)
	sp := &sessionPartition{key: k, fetchOffset: fetchOffset, maxBytes: maxBytes, leaderEpoch: leaderEpoch,
		sentHW: -1, sentLSO: -1, sentLogStart: -1}
	s.parts = append(s.parts, sp)
	s.index[k] = sp
}

func (s *fetchSession) forget(k sessionKey) {
	if _, ok := s.index[k]; !ok {
		return
	}
	delete(s.index, k)
	for i, sp := range s.parts {
		if sp.key == k {
			s.parts = append(s.parts[:i], s.parts[i+1:]...)
			break
		}
	}
}
