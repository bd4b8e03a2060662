package metadata

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// TypeClientQuota is Kafka's ClientQuotaRecord (api key 14 in
// metadata/src/main/resources/common/metadata/ClientQuotaRecord.json).
const TypeClientQuota RecordType = 14

// Quota entity types, as Kafka's ClientQuotaEntity.
const (
	QuotaUser     = "user"
	QuotaClientID = "client-id"
	QuotaIP       = "ip"
)

// QuotaEntityPart is one component of a quota entity. A nil Name is the
// default entity of its type (Kafka's "<default>").
type QuotaEntityPart struct {
	Type string  `json:"entityType"`
	Name *string `json:"entityName"`
}

// ClientQuotaRecord sets one quota value of an entity, or removes it.
type ClientQuotaRecord struct {
	Entity []QuotaEntityPart `json:"entity"`
	Key    string            `json:"key"`
	Value  float64           `json:"value"`
	Remove bool              `json:"remove"`
}

func (*ClientQuotaRecord) Type() RecordType { return TypeClientQuota }

// QuotaName is the name of one entity type within a QuotaEntity.
type QuotaName struct {
	Set     bool   // the entity includes this type
	Default bool   // the default entity of the type
	Name    string // when Set and not Default
}

// QuotaEntity names what a quota applies to: a user, a client id, both, or
// an IP, each by name or as the default. It is comparable, so it keys maps.
type QuotaEntity struct {
	User, ClientID, IP QuotaName
}

// QuotaEntityOf builds an entity from record parts; each type may appear
// once.
func QuotaEntityOf(parts []QuotaEntityPart) (QuotaEntity, error) {
	var e QuotaEntity
	if len(parts) == 0 {
		return e, fmt.Errorf("empty quota entity")
	}
	for _, p := range parts {
		var n *QuotaName
		switch p.Type {
		case QuotaUser:
			n = &e.User
		case QuotaClientID:
			n = &e.ClientID
		case QuotaIP:
			n = &e.IP
		default:
			return e, fmt.Errorf("unknown quota entity type %q", p.Type)
		}
		if n.Set {
			return e, fmt.Errorf("quota entity type %q appears twice", p.Type)
		}
		n.Set = true
		if p.Name == nil {
			n.Default = true
		} else {
			n.Name = *p.Name
		}
	}
	return e, nil
}

// Parts returns the entity as record parts, in user, client-id, ip order.
func (e QuotaEntity) Parts() []QuotaEntityPart {
	var out []QuotaEntityPart
	add := func(typ string, n QuotaName) {
		if !n.Set {
			return
		}
		p := QuotaEntityPart{Type: typ}
		if !n.Default {
			name := n.Name
			p.Name = &name
		}
		out = append(out, p)
	}
	add(QuotaUser, e.User)
	add(QuotaClientID, e.ClientID)
	add(QuotaIP, e.IP)
	return out
}

// String renders the entity as kafka-configs.sh names it.
func (e QuotaEntity) String() string {
	var parts []string
	for _, p := range e.Parts() {
		name := "<default>"
		if p.Name != nil {
			name = *p.Name
		}
		parts = append(parts, p.Type+"="+name)
	}
	return strings.Join(parts, ",")
}

// ClientQuotas returns the quota values of an entity (nil if none).
func (im *Image) ClientQuotas(e QuotaEntity) map[string]float64 { return im.quotas[e] }

// AllClientQuotas returns every entity with quotas; callers must not modify
// the maps.
func (im *Image) AllClientQuotas() map[QuotaEntity]map[string]float64 { return im.quotas }

func (d *delta) applyClientQuota(r *ClientQuotaRecord) error {
	e, err := QuotaEntityOf(r.Entity)
	if err != nil {
		return err
	}
	if r.Key == "" {
		return fmt.Errorf("quota without a key")
	}
	im := d.im
	if !d.quotasCopied {
		im.quotas = maps.Clone(im.quotas)
		if im.quotas == nil {
			im.quotas = map[QuotaEntity]map[string]float64{}
		}
		d.quotasCopied = true
	}
	m := maps.Clone(im.quotas[e])
	if m == nil {
		m = map[string]float64{}
	}
	if r.Remove {
		delete(m, r.Key)
	} else {
		m[r.Key] = r.Value
	}
	if len(m) == 0 {
		delete(im.quotas, e)
	} else {
		im.quotas[e] = m
	}
	return nil
}

// quotaRecords lists the records that rebuild im's quotas, in a stable
// order.
func (im *Image) quotaRecords() []Record {
	entities := slices.Collect(maps.Keys(im.quotas))
	slices.SortFunc(entities, func(a, b QuotaEntity) int { return compareStrings(a.String(), b.String()) })
	var recs []Record
	for _, e := range entities {
		m := im.quotas[e]
		for _, k := range slices.Sorted(maps.Keys(m)) {
			recs = append(recs, &ClientQuotaRecord{Entity: e.Parts(), Key: k, Value: m[k]})
		}
	}
	return recs
}
