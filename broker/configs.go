package broker

// What DescribeConfigs, AlterConfigs and IncrementalAlterConfigs share: how
// a resource is named and checked, and how a change becomes ConfigRecords.
//
// Resources (Kafka's ConfigResource.Type): TOPIC by name; BROKER by id, or
// "" for the cluster-wide dynamic default; BROKER_LOGGER by broker id, whose
// configs are the log levels of this process (kept in memory, as Kafka
// keeps log4j levels). Topic and broker configs are ConfigRecords in the
// metadata log, so they survive restarts, and every commit rebuilds the
// topics' effective settings (rebuildTopics), so a change takes effect at
// once, without a restart.
//
// Errors, per resource, as Kafka's ConfigAdminManager and
// ControllerConfigurationValidator give them: a bad topic name
// INVALID_TOPIC_EXCEPTION, a missing topic UNKNOWN_TOPIC_OR_PARTITION, an
// unknown config name or a bad value INVALID_CONFIG with a message naming
// the config and the problem, a broker setting that cannot change at
// runtime, a null value where one is needed, a name given twice or a
// resource type not served INVALID_REQUEST.

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/potok-io/potok/config"
	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/observe"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configError is a per-resource failure.
type configError struct {
	err *kerr.Error
	msg string
}

func configErr(e *kerr.Error, format string, args ...any) *configError {
	return &configError{err: e, msg: fmt.Sprintf(format, args...)}
}

// configOp is one change of an alter request. AlterConfigs is a list of
// SETs that replaces the whole set.
type configOp struct {
	name  string
	op    kmsg.IncrementalAlterConfigOp
	value *string
}

// brokerSources are the config sources of this broker in image im.
func (b *Broker) brokerSources(im *metadata.Image) config.Sources {
	return b.sources(im, "")
}

// checkBrokerName checks a BROKER or BROKER_LOGGER resource name: "" (only
// where allowDefault) or a broker id. It returns the id, -1 for "".
func (b *Broker) checkBrokerName(name string, allowDefault bool) (int32, *configError) {
	if name == "" {
		if allowDefault {
			return -1, nil
		}
		return 0, configErr(kerr.InvalidRequest, "Broker id must not be empty")
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil || id < 0 {
		return 0, configErr(kerr.InvalidRequest, "Broker id must be an integer, but it is: %s", name)
	}
	return int32(id), nil
}

// newConfigs applies ops to the explicit configs of a resource and returns
// the resulting explicit set. lookup finds a config's definition;
// effective gives the value an APPEND or SUBTRACT starts from when the
// resource has none of its own.
func newConfigs(current map[string]string, ops []configOp, replace bool, lookup func(string) (*config.Def, *configError),
	effective func(*config.Def) string) (map[string]string, *configError) {
	next := maps.Clone(current)
	if next == nil || replace {
		next = map[string]string{}
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.name] {
			return nil, configErr(kerr.InvalidRequest, "Config %s appears more than once in the request.", op.name)
		}
		seen[op.name] = true
		d, cerr := lookup(op.name)
		if cerr != nil {
			return nil, cerr
		}
		switch op.op {
		case kmsg.IncrementalAlterConfigOpSet:
			if op.value == nil {
				return nil, configErr(kerr.InvalidRequest, "Null value not supported for config %s.", op.name)
			}
			next[op.name] = *op.value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(next, op.name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if d.Type != config.List {
				return nil, configErr(kerr.InvalidConfig, "Config %s is not a list, so it cannot be appended to or subtracted from.", op.name)
			}
			if op.value == nil {
				return nil, configErr(kerr.InvalidRequest, "Null value not supported for config %s.", op.name)
			}
			base, ok := next[op.name]
			if !ok {
				base = effective(d)
			}
			items := config.SplitList(base)
			for _, item := range config.SplitList(*op.value) {
				i := slices.Index(items, item)
				switch {
				case op.op == kmsg.IncrementalAlterConfigOpAppend && i < 0:
					items = append(items, item)
				case op.op == kmsg.IncrementalAlterConfigOpSubtract && i >= 0:
					items = slices.Delete(items, i, i+1)
				}
			}
			next[op.name] = strings.Join(items, ",")
		default:
			return nil, configErr(kerr.InvalidRequest, "Unknown operation %d for config %s.", op.op, op.name)
		}
		if v, ok := next[op.name]; ok {
			if err := d.Check(v); err != nil {
				return nil, configErr(kerr.InvalidConfig, "Invalid value %s for configuration %s: %v", v, op.name, err)
			}
		}
	}
	return next, nil
}

// topicConfigLookup finds a topic config by name.
func topicConfigLookup(name string) (*config.Def, *configError) {
	d, ok := config.Topic.Lookup(name)
	if !ok {
		return nil, configErr(kerr.InvalidConfig, "Unknown topic config name: %s", name)
	}
	return d, nil
}

// brokerConfigLookup finds a broker setting that can change at runtime.
func brokerConfigLookup(name string) (*config.Def, *configError) {
	d, ok := config.Broker.Lookup(name)
	if !ok {
		return nil, configErr(kerr.InvalidConfig, "Unknown broker config name: %s", name)
	}
	if d.ReadOnly {
		return nil, configErr(kerr.InvalidRequest, "Cannot update these configs dynamically: %s (read-only: set it in server.properties and restart)", name)
	}
	return d, nil
}

// checkTopicValues checks what single values cannot: the relations Kafka's
// LogConfig.validateValues enforces between a topic's effective settings.
func checkTopicValues(v map[string]string) *configError {
	minLag := config.ParseInt64(v["min.compaction.lag.ms"])
	maxLag := config.ParseInt64(v["max.compaction.lag.ms"])
	if minLag > maxLag {
		return configErr(kerr.InvalidConfig, "conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)", minLag, maxLag)
	}
	return nil
}

// alterConfigRecords turns ops on a topic or broker resource into the
// ConfigRecords that make its explicit configs what the ops ask, checked
// against image im. replace is AlterConfigs: configs not named are removed.
func (b *Broker) alterConfigRecords(im *metadata.Image, typ kmsg.ConfigResourceType, name string, ops []configOp, replace bool) ([]metadata.Record, *configError) {
	var res metadata.ConfigResource
	var next map[string]string
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if err := validTopicName(name); err != nil {
			return nil, configErr(kerr.InvalidTopicException, "%v", err)
		}
		if _, ok := im.Topic(name); !ok {
			return nil, configErr(kerr.UnknownTopicOrPartition, "Topic %s does not exist.", name)
		}
		src := b.sources(im, name)
		var cerr *configError
		next, cerr = newConfigs(src.Topic, ops, replace, topicConfigLookup, func(d *config.Def) string { return src.TopicValue(d).Value })
		if cerr != nil {
			return nil, cerr
		}
		src.Topic = next
		if cerr := checkTopicValues(src.TopicValues()); cerr != nil {
			return nil, cerr
		}
		res = metadata.ConfigResource{Type: metadata.ResourceTopic, Name: name}
	case kmsg.ConfigResourceTypeBroker:
		if _, cerr := b.checkBrokerName(name, true); cerr != nil {
			return nil, cerr
		}
		res = metadata.ConfigResource{Type: metadata.ResourceBroker, Name: name}
		src := b.brokerSources(im)
		var cerr *configError
		next, cerr = newConfigs(im.Configs(res), ops, replace, brokerConfigLookup, func(d *config.Def) string { return src.BrokerValue(d).Value })
		if cerr != nil {
			return nil, cerr
		}
	default:
		return nil, configErr(kerr.InvalidRequest, "Unsupported resource type %d for resource %q.", typ, name)
	}
	return configDiff(res, im.Configs(res), next), nil
}

// configDiff returns the records turning configs old into next.
func configDiff(res metadata.ConfigResource, old, next map[string]string) []metadata.Record {
	var recs []metadata.Record
	for _, k := range slices.Sorted(maps.Keys(old)) {
		if _, ok := next[k]; !ok {
			recs = append(recs, &metadata.ConfigRecord{ResourceType: res.Type, ResourceName: res.Name, Name: k})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(next)) {
		if v, ok := old[k]; ok && v == next[k] {
			continue
		}
		v := next[k]
		recs = append(recs, &metadata.ConfigRecord{ResourceType: res.Type, ResourceName: res.Name, Name: k, Value: &v})
	}
	return recs
}

// alterResource is one resource of an alter request.
type alterResource struct {
	typ  kmsg.ConfigResourceType
	name string
	ops  []configOp
	err  *configError // the resource's failure, if any
	done bool         // handled outside the metadata commit (broker loggers)
}

// alterConfigs checks every resource against one image and commits the
// changes of those that pass in one metadata batch (none if validateOnly).
// Broker-logger resources change log levels instead. It fills each
// resource's err.
func (b *Broker) alterConfigs(resources []alterResource, replace, validateOnly bool) {
	type key struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	count := map[key]int{}
	for _, r := range resources {
		count[key{r.typ, r.name}]++
	}
	for i := range resources {
		r := &resources[i]
		if r.err == nil && count[key{r.typ, r.name}] > 1 {
			r.err = configErr(kerr.InvalidRequest, "Resource %q of type %d appears more than once in the request.", r.name, r.typ)
		}
		if r.err == nil && r.typ == kmsg.ConfigResourceTypeBrokerLogger {
			if replace {
				r.err = configErr(kerr.InvalidRequest, "AlterConfigs does not support broker loggers; use IncrementalAlterConfigs.")
			} else {
				r.err = b.alterLoggers(r.name, r.ops, validateOnly)
			}
			r.done = true
		}
	}
	_, err := b.ctrl.Commit(func(im *metadata.Image) ([]metadata.Record, error) {
		var recs []metadata.Record
		for i := range resources {
			r := &resources[i]
			if r.err != nil || r.done {
				continue
			}
			rs, cerr := b.alterConfigRecords(im, r.typ, r.name, r.ops, replace)
			if cerr != nil {
				r.err = cerr
				continue
			}
			recs = append(recs, rs...)
		}
		if validateOnly || len(recs) == 0 {
			return nil, metadata.ErrNoChange
		}
		return recs, nil
	})
	for i := range resources {
		if r := &resources[i]; r.err == nil && !r.done && err != nil {
			r.err = configErr(kerr.UnknownServerError, "metadata commit failed: %v", err)
		}
	}
}

// alterLoggers applies IncrementalAlterConfigs ops to this process's log
// levels (KIP-412): SET gives a logger a level, DELETE makes it follow the
// root logger again; APPEND and SUBTRACT mean nothing for a level.
func (b *Broker) alterLoggers(name string, ops []configOp, validateOnly bool) *configError {
	id, cerr := b.checkBrokerName(name, false)
	if cerr != nil {
		return cerr
	}
	if id != b.nodeID {
		return configErr(kerr.InvalidRequest, "Unexpected broker id, expected %d but received %s", b.nodeID, name)
	}
	lv := b.ops.levels
	for _, op := range ops {
		if !lv.Has(op.name) {
			return configErr(kerr.InvalidConfig, "Logger %s does not exist; loggers are %v", op.name, lv.Names())
		}
		switch op.op {
		case kmsg.IncrementalAlterConfigOpSet:
			if op.value == nil {
				return configErr(kerr.InvalidConfig, "Null log level for logger %s", op.name)
			}
			if _, err := observe.ParseLevel(*op.value); err != nil {
				return configErr(kerr.InvalidConfig, "%v", err)
			}
		case kmsg.IncrementalAlterConfigOpDelete:
			if op.name == observe.RootLogger {
				return configErr(kerr.InvalidConfig, "Removing the log level of the root logger is not allowed")
			}
		default:
			return configErr(kerr.InvalidRequest, "Operation %d is not allowed for broker loggers; only SET and DELETE are", op.op)
		}
	}
	if validateOnly {
		return nil
	}
	for _, op := range ops {
		if op.op == kmsg.IncrementalAlterConfigOpSet {
			level, _ := observe.ParseLevel(*op.value)
			lv.Set(op.name, level)
			b.log.Info("log level changed", "for", op.name, "level", *op.value)
		} else {
			lv.Reset(op.name)
			b.log.Info("log level reset to the root's", "for", op.name)
		}
	}
	return nil
}

// belowMinISR reports whether an acks=all write to a partition must be
// refused with NOT_ENOUGH_REPLICAS: its ISR is smaller than the topic's
// min.insync.replicas (Kafka's Partition.appendRecordsToLeader).
func (b *Broker) belowMinISR(ts *topicState, partition int32) bool {
	if ts == nil {
		return false
	}
	s := ts.settings.Load()
	if s == nil || s.MinInsyncReplicas <= 1 {
		return false
	}
	t, ok := b.ctrl.Image().Topic(ts.name)
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) {
		return false
	}
	return int32(len(t.Partitions[partition].ISR)) < s.MinInsyncReplicas
}
