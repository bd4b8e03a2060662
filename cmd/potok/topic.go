package main

// potok topic: kafka-topics.sh's jobs, over kadm.

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func topicCreate(e *cliEnv, args []string) error {
	fs := e.flags("TOPIC...")
	partitions := fs.Int("partitions", -1, "number of partitions (default: the broker's num.partitions)")
	rf := fs.Int("replication-factor", -1, "replicas of each partition (default: the broker's default.replication.factor)")
	var configs multiFlag
	fs.Var(&configs, "config", "a topic config as `name=value`, e.g. retention.ms=86400000; repeatable")
	ifNotExists := fs.Bool("if-not-exists", false, "succeed when the topic already exists")
	validate := fs.Bool("validate-only", false, "check the request without creating anything")
	topics, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		return usagef("name at least one topic")
	}
	cfg, err := keyValues("config", configs)
	if err != nil {
		return err
	}
	cfgp := map[string]*string{}
	for k, v := range cfg {
		cfgp[k] = &v
	}
	adm, ctx, done, err := e.admin()
	if err != nil {
		return err
	}
	defer done()
	create := adm.CreateTopics
	if *validate {
		create = adm.ValidateCreateTopics
	}
	res, err := create(ctx, int32(*partitions), int16(*rf), cfgp, topics...)
	if err != nil {
		return err
	}
	type created struct {
		Topic             string `json:"topic"`
		ID                string `json:"id,omitempty"`
		Partitions        int32  `json:"partitions"`
		ReplicationFactor int16  `json:"replication_factor"`
		Existed           bool   `json:"existed,omitempty"`
	}
	var out []created
	var errs []error
	for _, t := range topics {
		r := res[t]
		switch {
		case r.Err == nil:
			out = append(out, created{Topic: t, ID: r.ID.String(), Partitions: r.NumPartitions, ReplicationFactor: r.ReplicationFactor})
		case *ifNotExists && errors.Is(r.Err, kerr.TopicAlreadyExists):
			out = append(out, created{Topic: t, Existed: true})
		default:
			errs = append(errs, kafkaErr("topic "+t, r.Err, r.ErrMessage))
		}
	}
	if e.format == "json" {
		if err := e.json(out); err != nil {
			return err
		}
	} else {
		verb := "Created"
		if *validate {
			verb = "Would create"
		}
		for _, c := range out {
			if c.Existed {
				fmt.Fprintf(e.stdout, "Topic %s already exists.\n", c.Topic)
				continue
			}
			fmt.Fprintf(e.stdout, "%s topic %s with %d partitions and replication factor %d.\n", verb, c.Topic, c.Partitions, c.ReplicationFactor)
		}
	}
	return errors.Join(errs...)
}

func topicList(e *cliEnv, args []string) error {
	fs := e.flags("")
	internal := fs.Bool("internal", false, "include internal topics (__consumer_offsets, ...)")
	names := fs.Bool("names", false, "print only the names, one a line (for scripts and shell completion)")
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	adm, ctx, done, err := e.admin()
	if err != nil {
		return err
	}
	defer done()
	list := adm.ListTopics
	if *internal {
		list = adm.ListTopicsWithInternal
	}
	td, err := list(ctx)
	if err != nil {
		return err
	}
	if *names {
		for _, t := range td.Sorted() {
			fmt.Fprintln(e.stdout, t.Topic)
		}
		return nil
	}
	type listed struct {
		Topic             string `json:"topic"`
		ID                string `json:"id"`
		Partitions        int    `json:"partitions"`
		ReplicationFactor int    `json:"replication_factor"`
		Internal          bool   `json:"internal,omitempty"`
	}
	out := []listed{}
	for _, t := range td.Sorted() {
		out = append(out, listed{Topic: t.Topic, ID: t.ID.String(), Partitions: len(t.Partitions),
			ReplicationFactor: t.Partitions.NumReplicas(), Internal: t.IsInternal})
	}
	if e.format == "json" {
		return e.json(out)
	}
	tb := e.table("TOPIC", "PARTITIONS", "REPLICATION", "ID")
	for _, t := range out {
		tb.row(t.Topic, t.Partitions, t.ReplicationFactor, t.ID)
	}
	tb.flush()
	return nil
}

// describedTopic is the JSON form of potok topic describe.
type describedTopic struct {
	Topic      string               `json:"topic"`
	ID         string               `json:"id"`
	Internal   bool                 `json:"internal,omitempty"`
	Partitions []describedPartition `json:"partitions"`
	Configs    []describedConfig    `json:"configs"`
}

type describedPartition struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Epoch     int32   `json:"leader_epoch"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	Error     string  `json:"error,omitempty"`
}

type describedConfig struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"`
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive,omitempty"`
}

func topicDescribe(e *cliEnv, args []string) error {
	fs := e.flags("TOPIC...")
	all := fs.Bool("all-configs", false, "list every config, not only those set on the topic")
	topics, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	adm, ctx, done, err := e.admin()
	if err != nil {
		return err
	}
	defer done()
	td, err := adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		topics = td.Names()
	}
	var errs []error
	var out []describedTopic
	for _, name := range topics {
		t, ok := td[name]
		if !ok || t.Err != nil {
			err := t.Err
			if !ok || errors.Is(err, kerr.UnknownTopicOrPartition) {
				err = fmt.Errorf("topic %s does not exist", name)
			}
			errs = append(errs, err)
			continue
		}
		d := describedTopic{Topic: name, ID: t.ID.String(), Internal: t.IsInternal, Configs: []describedConfig{}}
		for _, p := range t.Partitions.Sorted() {
			dp := describedPartition{Partition: p.Partition, Leader: p.Leader, Epoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR}
			if p.Err != nil {
				dp.Error = p.Err.Error()
			}
			d.Partitions = append(d.Partitions, dp)
		}
		out = append(out, d)
	}
	if len(out) > 0 {
		var names []string
		for _, d := range out {
			names = append(names, d.Topic)
		}
		rc, err := adm.DescribeTopicConfigs(ctx, names...)
		if err != nil {
			return err
		}
		for i := range out {
			r, err := rc.On(out[i].Topic, nil)
			if err == nil {
				err = r.Err
			}
			if err != nil {
				errs = append(errs, kafkaErr("configs of "+out[i].Topic, err, r.ErrMessage))
				continue
			}
			for _, c := range r.Configs {
				if !*all && c.Source != kmsg.ConfigSourceDynamicTopicConfig {
					continue
				}
				out[i].Configs = append(out[i].Configs, describedConfig{Name: c.Key, Value: c.Value, Source: configSource(c.Source), Sensitive: c.Sensitive})
			}
		}
	}
	if e.format == "json" {
		if out == nil {
			out = []describedTopic{}
		}
		if err := e.json(out); err != nil {
			return err
		}
		return errors.Join(errs...)
	}
	for i, d := range out {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stdout, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\n", d.Topic, d.ID, len(d.Partitions), replicas(d))
		tb := e.table("PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR")
		for _, p := range d.Partitions {
			tb.row(p.Partition, p.Leader, p.Epoch, ints(p.Replicas), ints(p.ISR))
		}
		tb.flush()
		if len(d.Configs) > 0 {
			fmt.Fprintln(e.stdout)
			tb := e.table("CONFIG", "VALUE", "SOURCE")
			for _, c := range d.Configs {
				v := "(sensitive)"
				if c.Value != nil {
					v = *c.Value
				} else if !c.Sensitive {
					v = "(null)"
				}
				tb.row(c.Name, v, c.Source)
			}
			tb.flush()
		}
	}
	return errors.Join(errs...)
}

func replicas(d describedTopic) int {
	if len(d.Partitions) == 0 {
		return 0
	}
	return len(d.Partitions[0].Replicas)
}

// configSource names a config source as kafka-configs.sh prints it.
func configSource(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "DYNAMIC_TOPIC_CONFIG"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "DYNAMIC_BROKER_CONFIG"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "STATIC_BROKER_CONFIG"
	case kmsg.ConfigSourceDefaultConfig:
		return "DEFAULT_CONFIG"
	case kmsg.ConfigSourceDynamicBrokerLoggerConfig:
		return "DYNAMIC_BROKER_LOGGER_CONFIG"
	}
	return strings.ToUpper(s.String())
}

func topicAlter(e *cliEnv, args []string) error {
	fs := e.flags("TOPIC")
	partitions := fs.Int("partitions", 0, "raise the partition count to this")
	var set, del, appendC, subtract multiFlag
	fs.Var(&set, "config", "set a config, `name=value`; repeatable")
	fs.Var(&del, "delete-config", "remove a config override, back to the broker's value; repeatable")
	fs.Var(&appendC, "append-config", "add an item to a list config, `name=value`; repeatable")
	fs.Var(&subtract, "subtract-config", "remove an item from a list config, `name=value`; repeatable")
	validate := fs.Bool("validate-only", false, "check the change without making it")
	topics, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(topics) != 1 {
		return usagef("name exactly one topic")
	}
	topic := topics[0]
	var ops []kadm.AlterConfig
	for _, l := range []struct {
		name string
		kvs  []string
		op   kadm.IncrementalOp
	}{{"config", set, kadm.SetConfig}, {"append-config", appendC, kadm.AppendConfig}, {"subtract-config", subtract, kadm.SubtractConfig}} {
		kv, err := keyValues(l.name, l.kvs)
		if err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(kv)) {
			v := kv[k]
			ops = append(ops, kadm.AlterConfig{Op: l.op, Name: k, Value: &v})
		}
	}
	for _, k := range del {
		ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if len(ops) == 0 && *partitions == 0 {
		return usagef("nothing to change: give --partitions or a --config flag")
	}
	adm, ctx, done, err := e.admin()
	if err != nil {
		return err
	}
	defer done()
	if *partitions > 0 {
		update := adm.UpdatePartitions
		if *validate {
			update = adm.ValidateUpdatePartitions
		}
		res, err := update(ctx, *partitions, topic)
		if err != nil {
			return err
		}
		if r := res[topic]; r.Err != nil {
			return kafkaErr("partitions of "+topic, r.Err, r.ErrMessage)
		}
		if e.format != "json" {
			fmt.Fprintf(e.stdout, "Topic %s now has %d partitions.\n", topic, *partitions)
		}
	}
	if len(ops) > 0 {
		alter := adm.AlterTopicConfigs
		if *validate {
			alter = adm.ValidateAlterTopicConfigs
		}
		res, err := alter(ctx, ops, topic)
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err != nil {
				return kafkaErr("configs of "+topic, r.Err, r.ErrMessage)
			}
		}
		if e.format != "json" {
			fmt.Fprintf(e.stdout, "Changed %d configs of topic %s.\n", len(ops), topic)
		}
	}
	if e.format == "json" {
		return e.json(map[string]any{"topic": topic, "partitions": *partitions, "configs_changed": len(ops), "validate_only": *validate})
	}
	return nil
}

func topicDelete(e *cliEnv, args []string) error {
	fs := e.flags("TOPIC...")
	ifExists := fs.Bool("if-exists", false, "succeed when a topic does not exist")
	topics, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		return usagef("name at least one topic")
	}
	adm, ctx, done, err := e.admin()
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.DeleteTopics(ctx, topics...)
	if err != nil {
		return err
	}
	var errs []error
	deleted := []string{}
	for _, t := range topics {
		r := res[t]
		switch {
		case r.Err == nil:
			deleted = append(deleted, t)
		case *ifExists && errors.Is(r.Err, kerr.UnknownTopicOrPartition):
		default:
			errs = append(errs, kafkaErr("topic "+t, r.Err, r.ErrMessage))
		}
	}
	if e.format == "json" {
		if err := e.json(map[string]any{"deleted": deleted}); err != nil {
			return err
		}
	} else {
		for _, t := range deleted {
			fmt.Fprintf(e.stdout, "Deleted topic %s.\n", t)
		}
	}
	return errors.Join(errs...)
}
