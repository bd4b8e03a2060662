package broker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/potok-io/potok/config"
	"github.com/potok-io/potok/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topicSpec is one topic to create, from CreateTopics or auto-creation.
type topicSpec struct {
	name       string
	partitions int32 // -1: num.partitions
	rf         int16 // -1: default.replication.factor
	assignment [][]int32
	configs    map[string]string
	// configErr is set when the request's configs were malformed before
	// they could become a map (a null value, a duplicate).
	configErr string
}

// topicResult is the outcome for one topic.
type topicResult struct {
	err        *kerr.Error
	msg        string
	id         metadata.Uuid
	partitions int32
	rf         int16
}

func fail(e *kerr.Error, format string, args ...any) topicResult {
	return topicResult{err: e, msg: fmt.Sprintf(format, args...)}
}

// validTopicName applies Kafka's Topic.validate rules.
func validTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("topic name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("topic name cannot be %q", name)
	case len(name) > 249:
		return fmt.Errorf("topic name is longer than 249 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q contains %q; only ASCII letters, digits, '.', '_' and '-' are allowed", name, c)
		}
	}
	return nil
}

// collisionKey is the name under which '.' and '_' collide in metric names,
// which is why Kafka refuses topics differing only by them.
func collisionKey(name string) string { return strings.ReplaceAll(name, ".", "_") }

// checkTopicConfigs validates a topic's explicit configs.
func checkTopicConfigs(configs map[string]string) error {
	for k, v := range configs {
		d, ok := config.Topic.Lookup(k)
		if !ok {
			return fmt.Errorf("unknown topic config name: %s", k)
		}
		if err := d.Check(v); err != nil {
			return err
		}
	}
	return nil
}

// createTopics validates specs against the image and, unless validateOnly,
// creates the valid ones in one metadata commit. Each spec gets a result.
func (b *Broker) createTopics(specs []topicSpec, validateOnly bool) []topicResult {
	results := make([]topicResult, len(specs))
	_, err := b.ctrl.Commit(func(im *metadata.Image) ([]metadata.Record, error) {
		// The defaults may be dynamic broker configs.
		src := b.brokerSources(im)
		defPartitions := int32(src.BrokerInt("num.partitions"))
		defRF := int16(src.BrokerInt("default.replication.factor"))
		var recs []metadata.Record
		brokers := im.Brokers()
		taken := map[string]string{}
		for _, name := range im.TopicNames() {
			taken[collisionKey(name)] = name
		}
		for i := range specs {
			s := &specs[i]
			r := b.validateTopicSpec(im, s, brokers, taken, defPartitions, defRF)
			results[i] = r
			if r.err != nil {
				continue
			}
			taken[collisionKey(s.name)] = s.name
			results[i].id = newUuid()
			if validateOnly {
				continue
			}
			recs = append(recs, topicRecords(results[i].id, s, r.partitions, r.rf, brokers)...)
		}
		if len(recs) == 0 {
			return nil, metadata.ErrNoChange
		}
		return recs, nil
	})
	if err != nil {
		for i := range results {
			if results[i].err == nil {
				results[i] = fail(kerr.UnknownServerError, "metadata commit failed: %v", err)
			}
		}
	}
	return results
}

func (b *Broker) validateTopicSpec(im *metadata.Image, s *topicSpec, brokers []*metadata.Broker, taken map[string]string,
	defPartitions int32, defRF int16) topicResult {
	if err := validTopicName(s.name); err != nil {
		return fail(kerr.InvalidTopicException, "%v", err)
	}
	if _, ok := im.Topic(s.name); ok {
		return fail(kerr.TopicAlreadyExists, "Topic '%s' already exists.", s.name)
	}
	if other, ok := taken[collisionKey(s.name)]; ok {
		return fail(kerr.InvalidTopicException, "Topic '%s' collides with existing topic: %s", s.name, other)
	}
	if s.configErr != "" {
		return fail(kerr.InvalidConfig, "%s", s.configErr)
	}
	if err := checkTopicConfigs(s.configs); err != nil {
		return fail(kerr.InvalidConfig, "%v", err)
	}
	r := topicResult{partitions: s.partitions, rf: s.rf}
	if len(s.assignment) > 0 {
		if s.partitions != -1 || s.rf != -1 {
			return fail(kerr.InvalidRequest, "both numPartitions or replicationFactor and replicasAssignments were set; both cannot be used at the same time")
		}
		r.partitions = int32(len(s.assignment))
		r.rf = int16(len(s.assignment[0]))
		for p, replicas := range s.assignment {
			if len(replicas) == 0 || len(replicas) != int(r.rf) {
				return fail(kerr.InvalidReplicaAssignment, "partition %d has %d replicas, the first has %d", p, len(replicas), r.rf)
			}
			seen := map[int32]bool{}
			for _, id := range replicas {
				if _, ok := im.Broker(id); !ok {
					return fail(kerr.InvalidReplicaAssignment, "replica %d of partition %d is not a registered broker", id, p)
				}
				if seen[id] {
					return fail(kerr.InvalidReplicaAssignment, "partition %d lists broker %d twice", p, id)
				}
				seen[id] = true
			}
		}
		return r
	}
	if r.partitions == -1 {
		r.partitions = defPartitions
	}
	if r.rf == -1 {
		r.rf = defRF
	}
	if r.partitions <= 0 {
		return fail(kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	}
	if r.rf <= 0 {
		return fail(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0.")
	}
	if int(r.rf) > len(brokers) {
		return fail(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.",
			r.rf, r.rf, len(brokers))
	}
	return r
}

// topicRecords builds the records creating a topic. Replicas are placed
// round-robin from a start that rotates with the topic id (Kafka starts at
// a random broker); the first replica leads.
func topicRecords(id metadata.Uuid, s *topicSpec, partitions int32, rf int16, brokers []*metadata.Broker) []metadata.Record {
	recs := []metadata.Record{&metadata.TopicRecord{Name: s.name, ID: id}}
	start := int(id[0]) % max(len(brokers), 1)
	for p := int32(0); p < partitions; p++ {
		var replicas []int32
		if len(s.assignment) > 0 {
			replicas = slices.Clone(s.assignment[p])
		} else {
			for k := 0; k < int(rf); k++ {
				replicas = append(replicas, brokers[(start+int(p)+k)%len(brokers)].ID)
			}
		}
		recs = append(recs, &metadata.PartitionRecord{TopicID: id, Partition: p, Replicas: replicas,
			ISR: slices.Clone(replicas), Leader: replicas[0]})
	}
	for _, k := range sortedKeys(s.configs) {
		v := s.configs[k]
		recs = append(recs, &metadata.ConfigRecord{ResourceType: metadata.ResourceTopic, ResourceName: s.name, Name: k, Value: &v})
	}
	return recs
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// errMsg returns a pointer to msg, or nil when empty.
func errMsg(msg string) *string {
	if msg == "" {
		return nil
	}
	return &msg
}

// errCode returns e's code, 0 for nil.
func errCode(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}
