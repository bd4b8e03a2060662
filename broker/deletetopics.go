package broker

// DeleteTopics (key 20), v0-v6.
//
// By name (v0-v5) or by name or id (v6; an unknown id gets
// UNKNOWN_TOPIC_ID). delete.topic.enable=false answers
// TOPIC_DELETION_DISABLED (v3+; INVALID_REQUEST before). Internal topics
// cannot be deleted. The partitions' logs are removed at once; readers
// holding data finish with what they have. A topic created again under the
// same name gets a new id and empty logs.

import (
	"github.com/potok-io/potok/metadata"
	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDeleteTopics(r *protocol.Request) {
	req := r.Msg.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   metadata.Uuid
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: &n})
		}
	}
	results := make([]kmsg.DeleteTopicsResponseTopic, len(targets))
	enabled := b.src.BrokerBool("delete.topic.enable")
	var deleted []string // topics whose committed offsets go with them
	_, err := b.ctrl.Commit(func(im *metadata.Image) ([]metadata.Record, error) {
		deleted = deleted[:0]
		var recs []metadata.Record
		deleting := map[metadata.Uuid]bool{}
		for i, tg := range targets {
			res := kmsg.NewDeleteTopicsResponseTopic()
			res.Topic, res.TopicID = tg.name, tg.id
			var t *metadata.Topic
			var ok bool
			if tg.name != nil {
				t, ok = im.Topic(*tg.name)
			} else {
				t, ok = im.TopicByID(tg.id)
			}
			msg := ""
			switch {
			case !enabled && req.Version >= 3:
				res.ErrorCode, msg = kerr.TopicDeletionDisabled.Code, "topic deletion is disabled (delete.topic.enable=false)"
			case !enabled:
				res.ErrorCode, msg = kerr.InvalidRequest.Code, "topic deletion is disabled (delete.topic.enable=false)"
			case !ok && tg.name == nil:
				res.ErrorCode = kerr.UnknownTopicID.Code
			case !ok:
				res.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case isInternal(t.Name):
				res.ErrorCode, msg = kerr.InvalidRequest.Code, "internal topics cannot be deleted"
			default:
				name := t.Name
				res.Topic, res.TopicID = &name, t.ID
				if !deleting[t.ID] {
					deleting[t.ID] = true
					recs = append(recs, &metadata.RemoveTopicRecord{TopicID: t.ID})
					deleted = append(deleted, name)
				}
			}
			if req.Version >= 5 {
				res.ErrorMessage = errMsg(msg)
			}
			results[i] = res
		}
		if len(recs) == 0 {
			return nil, metadata.ErrNoChange
		}
		return recs, nil
	})
	if err != nil {
		b.log.Error("deleting topics failed", "err", err)
		for i := range results {
			if results[i].ErrorCode == 0 {
				results[i].ErrorCode = kerr.UnknownServerError.Code
			}
		}
	}
	if err == nil && len(deleted) > 0 {
		b.groups.TopicsDeleted(deleted) // group offsets of deleted topics go too
	}
	resp.Topics = results
	r.Respond(resp)
}
