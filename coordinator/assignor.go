package coordinator

// Server-side assignors of KIP-848 groups (group.consumer.assignors):
//
//   - uniform: every partition of the subscribed topics goes to one member
//     subscribed to its topic, counts differ by at most one between members
//     that could take each other's partitions, and partitions stay where
//     they were whenever that balance allows (Kafka's UniformAssignor).
//   - range: per topic, the subscribed members sorted by id take
//     consecutive ranges, the first n%m one partition more (Kafka's
//     RangeAssignor without rack awareness).
//
// Both are pure functions of the members' subscriptions, the topics and,
// for uniform, the previous target assignment.

import (
	"slices"
	"strings"
)

// tpid is a partition named by topic id, as KIP-848 names them.
type tpid struct {
	id        [16]byte
	partition int32
}

// topicInfo is a subscribed topic as the assignors see it.
type topicInfo struct {
	id         [16]byte
	name       string
	partitions int32
}

// assignMember is a member as the assignors see it.
type assignMember struct {
	id     string
	topics map[[16]byte]bool // subscribed topics that exist
	prev   map[tpid]bool     // its previous target
}

type assignmentSet = map[tpid]bool

func cmpTPID(a, b tpid) int {
	if c := strings.Compare(string(a.id[:]), string(b.id[:])); c != 0 {
		return c
	}
	return int(a.partition) - int(b.partition)
}

// assign runs the named assignor; unknown names fall back to uniform.
func assign(name string, members []assignMember, topics []topicInfo) map[string]assignmentSet {
	slices.SortFunc(members, func(a, b assignMember) int { return strings.Compare(a.id, b.id) })
	slices.SortFunc(topics, func(a, b topicInfo) int { return strings.Compare(a.name, b.name) })
	if name == "range" {
		return assignRange(members, topics)
	}
	return assignUniform(members, topics)
}

func assignRange(members []assignMember, topics []topicInfo) map[string]assignmentSet {
	out := make(map[string]assignmentSet, len(members))
	for _, m := range members {
		out[m.id] = assignmentSet{}
	}
	for _, t := range topics {
		var subs []string
		for _, m := range members {
			if m.topics[t.id] {
				subs = append(subs, m.id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		per, extra := int(t.partitions)/len(subs), int(t.partitions)%len(subs)
		next := int32(0)
		for i, id := range subs {
			n := per
			if i < extra {
				n++
			}
			for k := 0; k < n; k++ {
				out[id][tpid{t.id, next}] = true
				next++
			}
		}
	}
	return out
}

func assignUniform(members []assignMember, topics []topicInfo) map[string]assignmentSet {
	out := make(map[string]assignmentSet, len(members))
	eligible := map[[16]byte][]string{} // topic → subscribed members, sorted
	for _, m := range members {
		out[m.id] = assignmentSet{}
	}
	exists := map[tpid]bool{}
	var all []tpid
	for _, t := range topics {
		for _, m := range members {
			if m.topics[t.id] {
				eligible[t.id] = append(eligible[t.id], m.id)
			}
		}
		if len(eligible[t.id]) == 0 {
			continue
		}
		for p := int32(0); p < t.partitions; p++ {
			exists[tpid{t.id, p}] = true
			all = append(all, tpid{t.id, p})
		}
	}
	// Keep what each member had, where it still may.
	owner := map[tpid]string{}
	for _, m := range members {
		for t := range m.prev {
			if exists[t] && m.topics[t.id] && owner[t] == "" {
				owner[t] = m.id
				out[m.id][t] = true
			}
		}
	}
	// Hand out the rest, the partitions with the fewest candidates first,
	// each to its least loaded candidate.
	var free []tpid
	for _, t := range all {
		if owner[t] == "" {
			free = append(free, t)
		}
	}
	slices.SortStableFunc(free, func(a, b tpid) int {
		if d := len(eligible[a.id]) - len(eligible[b.id]); d != 0 {
			return d
		}
		return cmpTPID(a, b)
	})
	least := func(cands []string) string {
		best := ""
		for _, id := range cands {
			if best == "" || len(out[id]) < len(out[best]) {
				best = id
			}
		}
		return best
	}
	for _, t := range free {
		id := least(eligible[t.id])
		owner[t] = id
		out[id][t] = true
	}
	// Balance: move partitions from the most loaded member to a less
	// loaded candidate while that narrows the gap by two or more. Each
	// move lowers the sum of squared counts, so this ends.
	for {
		moved := false
		order := slices.Clone(members)
		slices.SortStableFunc(order, func(a, b assignMember) int { return len(out[b.id]) - len(out[a.id]) })
		for _, from := range order {
			parts := make([]tpid, 0, len(out[from.id]))
			for t := range out[from.id] {
				parts = append(parts, t)
			}
			slices.SortFunc(parts, func(a, b tpid) int { return cmpTPID(b, a) })
			for _, t := range parts {
				to := least(eligible[t.id])
				if len(out[from.id])-len(out[to]) >= 2 {
					delete(out[from.id], t)
					out[to][t] = true
					moved = true
					break
				}
			}
			if moved {
				break
			}
		}
		if !moved {
			return out
		}
	}
}
