package config

// Synonym is one place a value is set, as DescribeConfigs lists them when
// include_synonyms is asked: the config's name at that level, its value
// there and the level.
type Synonym struct {
	Name   string
	Value  string
	Null   bool
	Source Source
}

// BrokerSynonyms lists where a broker setting is set, most specific level
// first, and within a level the setting before its alternatives (Kafka's
// ConfigHelper.configSynonyms: log.retention.ms, .minutes, .hours at each
// of dynamic broker, dynamic default, static, default). The value in effect
// is BrokerValue's, which prefers a setting over its alternatives whatever
// their levels, as Kafka does once it has merged the levels.
func (s *Sources) BrokerSynonyms(d *Def) []Synonym {
	names := make([]string, 0, 1+len(d.Alternatives))
	names = append(names, d.Name)
	for _, a := range d.Alternatives {
		names = append(names, a.Name)
	}
	var out []Synonym
	for _, level := range []struct {
		m   map[string]string
		src Source
	}{{s.DynamicBroker, SourceDynamicBroker}, {s.DynamicDefault, SourceDynamicDefault}, {s.Static, SourceStatic}} {
		for _, n := range names {
			if v, ok := level.m[n]; ok {
				out = append(out, Synonym{Name: n, Value: v, Source: level.src})
			}
		}
	}
	for _, n := range names {
		if nd, ok := Broker.Lookup(n); ok && (nd.Default != "" || !nd.Nullable) {
			out = append(out, Synonym{Name: n, Value: nd.Default, Source: SourceDefault})
		}
	}
	return out
}

// TopicSynonyms lists where a topic setting is set: the topic's own
// override, then the synonyms of the broker setting it inherits from.
func (s *Sources) TopicSynonyms(d *Def) []Synonym {
	var out []Synonym
	if v, ok := s.Topic[d.Name]; ok {
		out = append(out, Synonym{Name: d.Name, Value: v, Source: SourceTopic})
	}
	if d.Synonym != "" {
		if bd, ok := Broker.Lookup(d.Synonym); ok {
			out = append(out, s.BrokerSynonyms(bd)...)
		}
	}
	return out
}
