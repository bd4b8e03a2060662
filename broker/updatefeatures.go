package broker

// UpdateFeatures (key 57), v0-v2 (KIP-584, KIP-778), and the features
// ApiVersions v3+ reports.
//
// A feature is finalized at a level by a FeatureLevelRecord in the metadata
// log; ApiVersions lists what this broker supports (supportedFeatures) and
// what is finalized, with the metadata offset as the epoch, so
// kafka-features.sh describe and Admin.describeFeatures read them from
// there. An update must name a supported feature and a level in its range
// (INVALID_UPDATE_VERSION otherwise); lowering a level, or removing it with
// a level below 1, needs AllowDowngrade (v0) or a downgrade upgrade_type
// (v1+). validate_only (v1+) changes nothing. v2 answers with a top-level
// error only.
//
// Potok serves the classic transaction and group protocols, so it supports
// transaction.version and group.version at level 0 only: finalizing a
// higher level (and with it KIP-890's transactions v2 or KIP-848 groups on
// every client) is refused until those protocols are served.

import (
	"fmt"
	"maps"
	"slices"

	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// featureRange is the levels of a feature this broker supports.
type featureRange struct{ min, max int16 }

// supportedFeatures lists every feature this broker supports; raise a max
// only with the protocol the level implies.
func supportedFeatures() map[string]featureRange {
	return map[string]featureRange{
		"transaction.version": {0, 0},
		"group.version":       {0, 1}, // 1: KIP-848 consumer groups
	}
}

// Upgrade types of UpdateFeatures v1+.
const (
	upgradeOnly      = 1
	safeDowngrade    = 2
	unsafeDowngrade  = 3
	maxFeatureUpdate = unsafeDowngrade
)

func (b *Broker) handleUpdateFeatures(r *protocol.Request) {
	req := r.Msg.(*kmsg.UpdateFeaturesRequest)
	resp := req.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	type result struct {
		err *kerr.Error
		msg string
	}
	results := make([]result, len(req.FeatureUpdates))
	validateOnly := req.Version >= 1 && req.ValidateOnly
	_, err := b.ctrl.Commit(func(im *metadata.Image) ([]metadata.Record, error) {
		var recs []metadata.Record
		seen := map[string]bool{}
		for i, u := range req.FeatureUpdates {
			res := &results[i]
			if seen[u.Feature] {
				res.err, res.msg = kerr.InvalidRequest, "The feature is named more than once."
				continue
			}
			seen[u.Feature] = true
			rng, ok := b.ops.features[u.Feature]
			if !ok {
				res.err, res.msg = kerr.InvalidUpdateVersion, "This broker does not support feature "+u.Feature+"."
				continue
			}
			level := max(u.MaxVersionLevel, 0)
			allowDowngrade := u.AllowDowngrade
			if req.Version >= 1 {
				if u.UpgradeType < upgradeOnly || u.UpgradeType > maxFeatureUpdate {
					res.err, res.msg = kerr.InvalidUpdateVersion, "Unknown upgrade type."
					continue
				}
				allowDowngrade = u.UpgradeType != upgradeOnly
			}
			if level != 0 && (level < rng.min || level > rng.max) {
				res.err = kerr.InvalidUpdateVersion
				res.msg = fmt.Sprintf("Level %d of %s is outside the supported range %d-%d.", level, u.Feature, rng.min, rng.max)
				continue
			}
			cur := im.Feature(u.Feature)
			if level < cur && !allowDowngrade {
				res.err, res.msg = kerr.InvalidUpdateVersion, "Lowering "+u.Feature+" needs a downgrade to be allowed."
				continue
			}
			if level != cur {
				recs = append(recs, &metadata.FeatureLevelRecord{Name: u.Feature, Level: level})
			}
		}
		for _, res := range results {
			// Kafka applies an update request all or nothing.
			if res.err != nil {
				return nil, metadata.ErrNoChange
			}
		}
		if validateOnly || len(recs) == 0 {
			return nil, metadata.ErrNoChange
		}
		return recs, nil
	})
	if err != nil {
		resp.ErrorCode = kerr.UnknownServerError.Code
		resp.ErrorMessage = errMsg("metadata commit failed: " + err.Error())
	}
	for i, u := range req.FeatureUpdates {
		res := results[i]
		if req.Version >= 2 {
			if res.err != nil && resp.ErrorCode == 0 {
				resp.ErrorCode, resp.ErrorMessage = res.err.Code, errMsg(res.msg)
			}
			continue
		}
		rr := kmsg.NewUpdateFeaturesResponseResult()
		rr.Feature = u.Feature
		rr.ErrorCode = errCode(res.err)
		rr.ErrorMessage = errMsg(res.msg)
		resp.Results = append(resp.Results, rr)
	}
	r.Respond(resp)
}

// fillFeatures adds the supported and finalized features to an ApiVersions
// v3+ answer.
func (b *Broker) fillFeatures(resp *kmsg.ApiVersionsResponse) {
	for _, name := range slices.Sorted(maps.Keys(b.ops.features)) {
		rng := b.ops.features[name]
		f := kmsg.NewApiVersionsResponseSupportedFeature()
		f.Name, f.MinVersion, f.MaxVersion = name, rng.min, rng.max
		resp.SupportedFeatures = append(resp.SupportedFeatures, f)
	}
	im := b.ctrl.Image()
	resp.FinalizedFeaturesEpoch = im.Offset()
	fin := im.Features()
	for _, name := range slices.Sorted(maps.Keys(fin)) {
		f := kmsg.NewApiVersionsResponseFinalizedFeature()
		f.Name, f.MinVersionLevel, f.MaxVersionLevel = name, fin[name], fin[name]
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, f)
	}
}
