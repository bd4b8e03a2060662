package coordinator

import (
	"log/slog"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
)

// OffsetsTopic is Kafka's internal topic of group state.
const OffsetsTopic = "__consumer_offsets"

// Client describes the client a request came from, as group members record
// it (client.id and the remote host, written "/1.2.3.4" as Kafka does).
type Client struct {
	ID   string
	Host string
}

// Groups is a broker's group coordinator: the groups of every
// __consumer_offsets partition this broker hosts, each partition (shard)
// loaded from its log and then run as its own state machine.
type Groups struct {
	cfg    Config
	topics Topics
	clock  Clock
	log    *slog.Logger
	uuid   func() string // member ids; tests make them predictable

	loaders sync.WaitGroup // replays in progress

	mu     sync.Mutex
	shards map[int32]*shard // guarded by mu
	closed bool             // guarded by mu
}

// New returns a coordinator hosting no partition yet.
func New(o Options) *Groups {
	if o.Clock == nil {
		o.Clock = WallClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.ConsumerAssignors) == 0 {
		o.ConsumerAssignors = DefaultConfig().ConsumerAssignors
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = DefaultConfig().CommitTimeout
	}
	return &Groups{cfg: o.Config, topics: o.Topics, clock: o.Clock, log: o.Logger, uuid: newUUID, shards: map[int32]*shard{}}
}

// Host makes this coordinator responsible for partition i of
// __consumer_offsets. Its groups are rebuilt by replaying l on a goroutine
// of the coordinator's; until that is done, requests for them get
// COORDINATOR_LOAD_IN_PROGRESS. Hosting a hosted partition does nothing.
func (c *Groups) Host(i int32, l PartitionLog) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.shards[i] != nil {
		return
	}
	s := newShard(c, i, l)
	c.shards[i] = s
	c.loaders.Add(1)
	go func() {
		defer c.loaders.Done()
		s.load()
	}()
}

// Unhost stops hosting partition i: waiting requests are answered
// NOT_COORDINATOR and its groups are dropped from memory.
func (c *Groups) Unhost(i int32) {
	c.mu.Lock()
	s := c.shards[i]
	delete(c.shards, i)
	c.mu.Unlock()
	if s != nil {
		s.close()
	}
}

// Hosted reports whether partition i is hosted, and whether it is loaded.
func (c *Groups) Hosted(i int32) (hosted, loaded bool) {
	c.mu.Lock()
	s := c.shards[i]
	c.mu.Unlock()
	if s == nil {
		return false, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return true, s.state == shardActive
}

// Close stops every shard, answering what waits with NOT_COORDINATOR, and
// waits for loads in progress to stop.
func (c *Groups) Close() {
	c.mu.Lock()
	c.closed = true
	shards := c.shards
	c.shards = map[int32]*shard{}
	c.mu.Unlock()
	for _, s := range shards {
		s.close()
	}
	c.loaders.Wait()
}

// PartitionOf returns the __consumer_offsets partition of a group, if the
// topic exists.
func (c *Groups) PartitionOf(group string) (int32, bool) {
	_, n, ok := c.topics.Topic(OffsetsTopic)
	if !ok || n <= 0 {
		return 0, false
	}
	return PartitionFor(group, n), true
}

// shardFor returns the shard of a group, or the error code a request for it
// gets.
func (c *Groups) shardFor(group string) (*shard, int16) {
	p, ok := c.PartitionOf(group)
	if !ok {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	c.mu.Lock()
	s := c.shards[p]
	c.mu.Unlock()
	if s == nil {
		return nil, kerr.NotCoordinator.Code
	}
	return s, 0
}

// allShards returns the hosted shards.
func (c *Groups) allShards() []*shard {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*shard, 0, len(c.shards))
	for _, s := range c.shards {
		out = append(out, s)
	}
	return out
}

// onShard runs fn under the lock of the partition hosting group, with a
// pending answer it must complete; errors on the way (no group id, not
// hosted, loading) answer at once.
func (c *Groups) onShard(group string, answer func(code int16), fn func(s *shard, p *pending)) {
	if group == "" {
		answer(kerr.InvalidGroupID.Code)
		return
	}
	s, code := c.shardFor(group)
	if code != 0 {
		answer(code)
		return
	}
	p := s.newPending(answer)
	if code := s.do(func() { fn(s, p) }); code != 0 {
		p.fire(code)
	}
}
