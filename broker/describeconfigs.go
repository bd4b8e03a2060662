package broker

// DescribeConfigs (key 32), v1-v4 (Kafka 4 dropped v0).
//
// As Kafka's ConfigHelper: a topic lists every topic config Kafka documents
// with its effective value and source, not only its overrides (Kafka
// Connect refuses to start unless its topics report cleanup.policy=compact;
// UIs and Terraform providers diff the full set, brief trap #36). Broker
// <id> lists every broker setting; broker "" (the cluster-wide default)
// lists only the settings that have a dynamic default. Each entry carries
// read_only (topic configs never; broker settings that need a restart),
// is_sensitive (with a null value), its synonyms when include_synonyms asks
// (the topic override first, then the broker setting it inherits from at
// each level, most specific first), config_type (v3+) and documentation
// when asked (v3+). An empty or null key list means every config; unknown
// keys are left out. BROKER_LOGGER lists this process's loggers and levels.
//
// Resources of other types (client metrics, groups) get INVALID_REQUEST.

import (
	"github.com/potok-io/potok/config"
	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/observe"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDescribeConfigs(r *protocol.Request) {
	req := r.Msg.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	im := b.ctrl.Image()
	for _, res := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		d := configDescriber{synonyms: req.IncludeSynonyms, docs: req.Version >= 3 && req.IncludeDocumentation,
			version: req.Version, keys: res.ConfigNames}
		var cerr *configError
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			cerr = b.describeTopicConfigs(im, res.ResourceName, &d)
		case kmsg.ConfigResourceTypeBroker:
			cerr = b.describeBrokerConfigs(im, res.ResourceName, &d)
		case kmsg.ConfigResourceTypeBrokerLogger:
			cerr = b.describeLoggers(res.ResourceName, &d)
		default:
			cerr = configErr(kerr.InvalidRequest, "Unsupported resource type %d for resource %q.", res.ResourceType, res.ResourceName)
		}
		if cerr != nil {
			rr.ErrorCode = cerr.err.Code
			rr.ErrorMessage = errMsg(cerr.msg)
		} else {
			rr.Configs = d.out
		}
		if rr.Configs == nil {
			rr.Configs = []kmsg.DescribeConfigsResponseResourceConfig{}
		}
		resp.Resources = append(resp.Resources, rr)
	}
	r.Respond(resp)
}

// configDescriber collects the entries of one resource.
type configDescriber struct {
	synonyms, docs bool
	version        int16
	keys           []string // nil or empty: all
	out            []kmsg.DescribeConfigsResponseResourceConfig
}

func (d *configDescriber) wants(name string) bool {
	if len(d.keys) == 0 {
		return true
	}
	for _, k := range d.keys {
		if k == name {
			return true
		}
	}
	return false
}

// add appends an entry for def with its effective value and synonyms.
func (d *configDescriber) add(def *config.Def, v config.Resolved, syns []config.Synonym, readOnly bool) {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = def.Name
	if !v.Null && !def.Sensitive {
		val := v.Value
		c.Value = &val
	}
	c.ReadOnly = readOnly
	c.Source = kmsg.ConfigSource(v.Source)
	c.IsDefault = v.Source == config.SourceDefault
	c.IsSensitive = def.Sensitive
	c.ConfigType = kmsg.ConfigType(def.Type)
	if d.docs {
		doc := def.Doc
		c.Documentation = &doc
	}
	if d.synonyms {
		c.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{}
		for _, s := range syns {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name = s.Name
			if !s.Null && !def.Sensitive {
				val := s.Value
				cs.Value = &val
			}
			cs.Source = kmsg.ConfigSource(s.Source)
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	d.out = append(d.out, c)
}

func (b *Broker) describeTopicConfigs(im *metadata.Image, name string, d *configDescriber) *configError {
	if err := validTopicName(name); err != nil {
		return configErr(kerr.InvalidTopicException, "%v", err)
	}
	if _, ok := im.Topic(name); !ok {
		return configErr(kerr.UnknownTopicOrPartition, "Topic %s does not exist.", name)
	}
	src := b.sources(im, name)
	for _, def := range config.Topic.All() {
		if d.wants(def.Name) {
			d.add(def, src.TopicValue(def), src.TopicSynonyms(def), false)
		}
	}
	return nil
}

func (b *Broker) describeBrokerConfigs(im *metadata.Image, name string, d *configDescriber) *configError {
	id, cerr := b.checkBrokerName(name, true)
	if cerr != nil {
		return cerr
	}
	src := b.brokerSources(im)
	if id >= 0 {
		if id != b.nodeID {
			return configErr(kerr.InvalidRequest, "Unexpected broker id, expected %d or empty string, but received %s", b.nodeID, name)
		}
		for _, def := range config.Broker.All() {
			if d.wants(def.Name) {
				d.add(def, src.BrokerValue(def), src.BrokerSynonyms(def), def.ReadOnly)
			}
		}
		return nil
	}
	// The cluster-wide default resource holds only what was set there.
	for _, def := range config.Broker.All() {
		v, ok := src.DynamicDefault[def.Name]
		if !ok || !d.wants(def.Name) {
			continue
		}
		var syns []config.Synonym
		for _, s := range src.BrokerSynonyms(def) {
			if s.Source == config.SourceDynamicDefault {
				syns = append(syns, s)
			}
		}
		d.add(def, config.Resolved{Value: v, Source: config.SourceDynamicDefault}, syns, def.ReadOnly)
	}
	return nil
}

// describeLoggers lists the process's loggers and their levels (KIP-412).
func (b *Broker) describeLoggers(name string, d *configDescriber) *configError {
	id, cerr := b.checkBrokerName(name, false)
	if cerr != nil {
		return cerr
	}
	if id != b.nodeID {
		return configErr(kerr.InvalidRequest, "Unexpected broker id, expected %d but received %s", b.nodeID, name)
	}
	lv := b.ops.levels
	for _, logger := range lv.Names() {
		if !d.wants(logger) {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name = logger
		level := lv.Level(logger)
		c.Value = &level
		c.Source = kmsg.ConfigSourceDynamicBrokerLoggerConfig
		c.ConfigType = kmsg.ConfigTypeString
		if d.synonyms {
			c.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{}
		}
		if d.docs {
			doc := "Log level of logger " + logger + "; loggers without a level of their own follow " + observe.RootLogger + "."
			c.Documentation = &doc
		}
		d.out = append(d.out, c)
	}
	return nil
}
