package broker

// DescribeClientQuotas (key 48), v0-v1, and AlterClientQuotas (key 49),
// v0-v1 (KIP-546).
//
// Quotas are ClientQuotaRecords in the metadata log (persisted, applied on
// every broker) for entities made of a user, a client id or both, each by
// name or as the default. The quota package enforces them: produce and
// fetch byte rates and request percentage, answered with throttle_time_ms
// and a muted connection (KIP-219).
//
// Describe filters entities by components (EXACT name, DEFAULT, or any
// SPECIFIED entity of a type, default included, as Kafka's
// ClientQuotasImage), strict meaning no other entity types. Alter sets or
// removes values per entity; each entity succeeds or fails on its own;
// validate_only changes nothing. Errors are INVALID_REQUEST with a message:
// an unknown or repeated entity type, an unknown key, a byte rate that is
// not a whole number, a value that is not positive. Deliberately refused
// (Kafka accepts them): ip entities (connection_creation_rate) and
// controller_mutation_rate, which Potok does not enforce.

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/protocol"
	"github.com/potok-io/potok/quota"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDescribeClientQuotas(r *protocol.Request) {
	req := r.Msg.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	fail := func(format string, args ...any) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = errMsg(fmt.Sprintf(format, args...))
		r.Respond(resp)
	}
	type want struct {
		any  bool
		name metadata.QuotaName
	}
	filter := map[string]want{}
	for _, c := range req.Components {
		if !knownEntityType(c.EntityType) {
			fail("Unknown quota entity type %q.", c.EntityType)
			return
		}
		if _, dup := filter[c.EntityType]; dup {
			fail("Quota entity type %q appears more than once in the filter.", c.EntityType)
			return
		}
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				fail("An exact match of %s needs a name.", c.EntityType)
				return
			}
			filter[c.EntityType] = want{name: metadata.QuotaName{Set: true, Name: *c.Match}}
		case kmsg.QuotasMatchTypeDefault:
			filter[c.EntityType] = want{name: metadata.QuotaName{Set: true, Default: true}}
		case kmsg.QuotasMatchTypeAny:
			filter[c.EntityType] = want{any: true}
		default:
			fail("Unknown match type %d.", c.MatchType)
			return
		}
	}
	all := b.ctrl.Image().AllClientQuotas()
	entities := slices.Collect(maps.Keys(all))
	slices.SortFunc(entities, func(a, b metadata.QuotaEntity) int { return compareStrings(a.String(), b.String()) })
	for _, e := range entities {
		ok := true
		for typ, n := range map[string]metadata.QuotaName{metadata.QuotaUser: e.User, metadata.QuotaClientID: e.ClientID, metadata.QuotaIP: e.IP} {
			w, asked := filter[typ]
			switch {
			case !asked:
				ok = ok && !(req.Strict && n.Set)
			case w.any:
				ok = ok && n.Set
			default:
				ok = ok && n == w.name
			}
		}
		if !ok {
			continue
		}
		entry := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, p := range e.Parts() {
			pe := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			pe.Type, pe.Name = p.Type, p.Name
			entry.Entity = append(entry.Entity, pe)
		}
		vals := all[e]
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, vals[k]
			entry.Values = append(entry.Values, v)
		}
		resp.Entries = append(resp.Entries, entry)
	}
	r.Respond(resp)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func knownEntityType(t string) bool {
	return t == metadata.QuotaUser || t == metadata.QuotaClientID || t == metadata.QuotaIP
}

// quotaEntry is one entity of an AlterClientQuotas request.
type quotaEntry struct {
	parts []metadata.QuotaEntityPart
	ops   []kmsg.AlterClientQuotasRequestEntryOp
	err   error
}

// checkQuotaEntry validates an entity and its changes and returns the
// records making them.
func checkQuotaEntry(q *quotaEntry) ([]metadata.Record, error) {
	e, err := metadata.QuotaEntityOf(q.parts)
	if err != nil {
		return nil, err
	}
	if e.IP.Set {
		return nil, fmt.Errorf("ip quotas (connection_creation_rate) are not enforced by Potok")
	}
	seen := map[string]bool{}
	var recs []metadata.Record
	for _, op := range q.ops {
		if seen[op.Key] {
			return nil, fmt.Errorf("quota %s appears more than once for %s", op.Key, e)
		}
		seen[op.Key] = true
		kind, ok := quota.KindOf(op.Key)
		if !ok {
			if op.Key == "controller_mutation_rate" {
				return nil, fmt.Errorf("controller_mutation_rate is not enforced by Potok")
			}
			return nil, fmt.Errorf("unknown quota key %q for %s; expected producer_byte_rate, consumer_byte_rate or request_percentage", op.Key, e)
		}
		if !op.Remove {
			if op.Value <= 0 || math.IsNaN(op.Value) || math.IsInf(op.Value, 0) {
				return nil, fmt.Errorf("quota %s must be positive, not %v", op.Key, op.Value)
			}
			if kind != quota.Request && op.Value != math.Trunc(op.Value) {
				return nil, fmt.Errorf("quota %s must be a whole number of bytes per second, not %v", op.Key, op.Value)
			}
		}
		recs = append(recs, &metadata.ClientQuotaRecord{Entity: e.Parts(), Key: op.Key, Value: op.Value, Remove: op.Remove})
	}
	return recs, nil
}

func (b *Broker) handleAlterClientQuotas(r *protocol.Request) {
	req := r.Msg.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	entries := make([]quotaEntry, len(req.Entries))
	for i, re := range req.Entries {
		for _, p := range re.Entity {
			entries[i].parts = append(entries[i].parts, metadata.QuotaEntityPart{Type: p.Type, Name: p.Name})
		}
		entries[i].ops = re.Ops
	}
	_, err := b.ctrl.Commit(func(*metadata.Image) ([]metadata.Record, error) {
		var recs []metadata.Record
		for i := range entries {
			rs, err := checkQuotaEntry(&entries[i])
			if err != nil {
				entries[i].err = err
				continue
			}
			recs = append(recs, rs...)
		}
		if req.ValidateOnly || len(recs) == 0 {
			return nil, metadata.ErrNoChange
		}
		return recs, nil
	})
	for i, re := range req.Entries {
		entry := kmsg.NewAlterClientQuotasResponseEntry()
		for _, p := range re.Entity {
			pe := kmsg.NewAlterClientQuotasResponseEntryEntity()
			pe.Type, pe.Name = p.Type, p.Name
			entry.Entity = append(entry.Entity, pe)
		}
		switch {
		case entries[i].err != nil:
			entry.ErrorCode = kerr.InvalidRequest.Code
			entry.ErrorMessage = errMsg(entries[i].err.Error())
		case err != nil:
			entry.ErrorCode = kerr.UnknownServerError.Code
			entry.ErrorMessage = errMsg("metadata commit failed: " + err.Error())
		}
		resp.Entries = append(resp.Entries, entry)
	}
	r.Respond(resp)
}
