// Package config defines the broker and topic settings Potok understands,
// with Apache Kafka's names, types, defaults and meanings, and resolves the
// effective value of each from its sources (topic override, dynamic broker
// config, static server.properties, default), as DescribeConfigs reports them.
//
// Defaults are Kafka's, except where a single development node needs
// otherwise; those are marked PotokDefault and explained in Doc.
package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Type is a config's type, numbered as Kafka's DescribeConfigs config_type.
type Type int8

const (
	Boolean  Type = 1
	String   Type = 2
	Int      Type = 3
	Short    Type = 4
	Long     Type = 5
	Double   Type = 6
	List     Type = 7
	Class    Type = 8
	Password Type = 9
)

// Source is where an effective value came from, numbered as DescribeConfigs.
type Source int8

const (
	SourceTopic          Source = 1
	SourceDynamicBroker  Source = 2
	SourceDynamicDefault Source = 3
	SourceStatic         Source = 4
	SourceDefault        Source = 5
)

// Def describes one setting.
type Def struct {
	Name    string
	Type    Type
	Default string // "" with Nullable means null
	Doc     string
	// Synonym is the broker setting a topic setting inherits from.
	Synonym string
	// Alternatives are broker settings that also set this one, in order of
	// precedence (log.retention.ms over .minutes over .hours), with the
	// factor that turns their unit into this setting's.
	Alternatives []Alternative
	Enum         []string
	Min, Max     float64 // numeric range, inclusive; Max 0 = none
	NoMin        bool    // numeric with no lower bound (Min is ignored)
	Nullable     bool
	ReadOnly     bool // cannot change at runtime (broker settings)
	Sensitive    bool
	// Validate adds checks beyond type, range and enum.
	Validate func(string) error
}

// Alternative is another broker setting that sets a value in another unit.
type Alternative struct {
	Name   string
	Factor int64
}

// Check validates v against the definition.
func (d *Def) Check(v string) error {
	switch d.Type {
	case Boolean:
		if v != "true" && v != "false" {
			return fmt.Errorf("%s must be true or false, not %q", d.Name, v)
		}
	case Int, Short, Long:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%s must be an integer, not %q", d.Name, v)
		}
		lo, hi := float64(math.MinInt64), float64(math.MaxInt64)
		switch d.Type {
		case Int:
			lo, hi = math.MinInt32, math.MaxInt32
		case Short:
			lo, hi = math.MinInt16, math.MaxInt16
		}
		if float64(n) < lo || float64(n) > hi {
			return fmt.Errorf("%s value %d out of range for its type", d.Name, n)
		}
		if err := d.checkRange(float64(n)); err != nil {
			return err
		}
	case Double:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("%s must be a number, not %q", d.Name, v)
		}
		if err := d.checkRange(f); err != nil {
			return err
		}
	case List:
		if len(d.Enum) > 0 {
			for _, item := range SplitList(v) {
				if !slices.Contains(d.Enum, item) {
					return fmt.Errorf("%s: invalid value %q, expected a list of %s", d.Name, item, strings.Join(d.Enum, ", "))
				}
			}
		}
	}
	if len(d.Enum) > 0 && d.Type != List && !slices.Contains(d.Enum, v) {
		return fmt.Errorf("%s: invalid value %q, expected one of %s", d.Name, v, strings.Join(d.Enum, ", "))
	}
	if d.Validate != nil {
		return d.Validate(v)
	}
	return nil
}

func (d *Def) checkRange(f float64) error {
	if !d.NoMin && f < d.Min || d.Max != 0 && f > d.Max {
		if d.Max != 0 {
			return fmt.Errorf("%s value %v must be between %v and %v", d.Name, f, d.Min, d.Max)
		}
		return fmt.Errorf("%s value %v must be at least %v", d.Name, f, d.Min)
	}
	return nil
}

// SplitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Set is an ordered table of definitions.
type Set struct {
	defs  []*Def
	index map[string]*Def
}

func newSet(defs []*Def) *Set {
	s := &Set{defs: defs, index: make(map[string]*Def, len(defs))}
	for _, d := range defs {
		s.index[d.Name] = d
	}
	return s
}

// Lookup returns the definition of name.
func (s *Set) Lookup(name string) (*Def, bool) {
	d, ok := s.index[name]
	return d, ok
}

// All returns every definition in table order.
func (s *Set) All() []*Def { return s.defs }

// Values is a set of explicitly given settings.
type Values map[string]string

// Int64 parses the value of name, which must be valid.
func ParseInt64(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n
}

// ParseFloat parses a double value, which must be valid.
func ParseFloat(v string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
	return f
}
