package config

import "strconv"

// Sources holds the settings of every layer a value can come from, most
// specific first. Any map may be nil.
type Sources struct {
	Topic          map[string]string // topic overrides (topic settings only)
	DynamicBroker  map[string]string // dynamic config of this broker
	DynamicDefault map[string]string // dynamic cluster-wide default
	Static         map[string]string // server.properties, environment, flags
}

// Resolved is an effective value and where it came from.
type Resolved struct {
	Value  string
	Null   bool
	Source Source
}

// BrokerValue resolves a broker setting.
func (s *Sources) BrokerValue(d *Def) Resolved {
	if r, ok := s.brokerExplicit(d.Name); ok {
		return r
	}
	for _, alt := range d.Alternatives {
		if r, ok := s.brokerExplicit(alt.Name); ok {
			r.Value = scale(r.Value, alt.Factor)
			return r
		}
	}
	if d.Default != "" || !d.Nullable {
		return Resolved{Value: d.Default, Source: SourceDefault}
	}
	for _, alt := range d.Alternatives {
		if ad, ok := Broker.Lookup(alt.Name); ok && ad.Default != "" {
			return Resolved{Value: scale(ad.Default, alt.Factor), Source: SourceDefault}
		}
	}
	return Resolved{Null: true, Source: SourceDefault}
}

func (s *Sources) brokerExplicit(name string) (Resolved, bool) {
	if v, ok := s.DynamicBroker[name]; ok {
		return Resolved{Value: v, Source: SourceDynamicBroker}, true
	}
	if v, ok := s.DynamicDefault[name]; ok {
		return Resolved{Value: v, Source: SourceDynamicDefault}, true
	}
	if v, ok := s.Static[name]; ok {
		return Resolved{Value: v, Source: SourceStatic}, true
	}
	return Resolved{}, false
}

func scale(v string, factor int64) string {
	return strconv.FormatInt(ParseInt64(v)*factor, 10)
}

// TopicValue resolves a topic setting: the topic's override, else the
// broker setting it inherits from when that was set explicitly, else the
// topic default.
func (s *Sources) TopicValue(d *Def) Resolved {
	if v, ok := s.Topic[d.Name]; ok {
		return Resolved{Value: v, Source: SourceTopic}
	}
	if d.Synonym != "" {
		if bd, ok := Broker.Lookup(d.Synonym); ok {
			if r := s.BrokerValue(bd); r.Source != SourceDefault && !r.Null {
				return r
			}
		}
	}
	return Resolved{Value: d.Default, Source: SourceDefault}
}

// TopicValues resolves every topic setting.
func (s *Sources) TopicValues() map[string]string {
	out := make(map[string]string, len(Topic.defs))
	for _, d := range Topic.defs {
		out[d.Name] = s.TopicValue(d).Value
	}
	return out
}

// BrokerString resolves a broker setting by name; unknown names give "".
func (s *Sources) BrokerString(name string) string {
	d, ok := Broker.Lookup(name)
	if !ok {
		return s.Static[name]
	}
	return s.BrokerValue(d).Value
}

// BrokerInt resolves an integer broker setting by name.
func (s *Sources) BrokerInt(name string) int64 { return ParseInt64(s.BrokerString(name)) }

// BrokerBool resolves a boolean broker setting by name.
func (s *Sources) BrokerBool(name string) bool { return s.BrokerString(name) == "true" }
