package coordinator

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

type assignCase struct {
	members []assignMember
	topics  []topicInfo
}

func randomCase(r *rand.Rand, homogeneous bool) assignCase {
	var c assignCase
	for i := range 1 + r.IntN(4) {
		c.topics = append(c.topics, topicInfo{id: [16]byte{byte(i + 1)}, name: fmt.Sprintf("t%d", i), partitions: int32(1 + r.IntN(20))})
	}
	for i := range 1 + r.IntN(8) {
		m := assignMember{id: fmt.Sprintf("m%d", i), topics: map[[16]byte]bool{}}
		for _, t := range c.topics {
			if homogeneous || r.IntN(2) == 0 {
				m.topics[t.id] = true
			}
		}
		c.members = append(c.members, m)
	}
	return c
}

// checkAssignment verifies what every assignor must do: each partition of a
// topic somebody subscribes to goes to exactly one subscriber.
func checkAssignment(t *testing.T, c assignCase, out map[string]assignmentSet) {
	t.Helper()
	owner := map[tpid]string{}
	for _, m := range c.members {
		for p := range out[m.id] {
			if !m.topics[p.id] {
				t.Fatalf("%s got %v without subscribing", m.id, p)
			}
			if o, ok := owner[p]; ok {
				t.Fatalf("%v given to %s and %s", p, o, m.id)
			}
			owner[p] = m.id
		}
	}
	for _, tp := range c.topics {
		subscribed := false
		for _, m := range c.members {
			subscribed = subscribed || m.topics[tp.id]
		}
		for p := int32(0); p < tp.partitions; p++ {
			if _, ok := owner[tpid{tp.id, p}]; subscribed && !ok {
				t.Fatalf("%s:%d unassigned", tp.name, p)
			}
		}
	}
}

// checkUniformBalance: no member could take a partition from another that
// holds two or more partitions more than it.
func checkUniformBalance(t *testing.T, c assignCase, out map[string]assignmentSet) {
	t.Helper()
	for _, a := range c.members {
		for p := range out[a.id] {
			for _, b := range c.members {
				if b.topics[p.id] && len(out[a.id])-len(out[b.id]) >= 2 {
					t.Fatalf("%s holds %d and could give %v to %s holding %d", a.id, len(out[a.id]), p, b.id, len(out[b.id]))
				}
			}
		}
	}
}

func TestUniformAssignor(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		c := randomCase(r, i%2 == 0)
		out := assign("uniform", c.members, c.topics)
		checkAssignment(t, c, out)
		checkUniformBalance(t, c, out)
		// Sticky: the same group again changes nothing.
		for j := range c.members {
			c.members[j].prev = out[c.members[j].id]
		}
		again := assign("uniform", c.members, c.topics)
		for _, m := range c.members {
			if !sameSet(again[m.id], out[m.id]) {
				t.Fatalf("case %d: %s moved from %v to %v with nothing changed", i, m.id, out[m.id], again[m.id])
			}
		}
		// Sticky: a new member takes partitions, but every member keeps as
		// many of its own as the new balance allows.
		if i%2 == 0 {
			total := 0
			for _, tp := range c.topics {
				total += int(tp.partitions)
			}
			newcomer := assignMember{id: "new", topics: map[[16]byte]bool{}}
			for _, tp := range c.topics {
				newcomer.topics[tp.id] = true
			}
			c.members = append(c.members, newcomer)
			grown := assign("uniform", c.members, c.topics)
			checkAssignment(t, c, grown)
			checkUniformBalance(t, c, grown)
			floor := total / len(c.members)
			for _, m := range c.members[:len(c.members)-1] {
				kept := 0
				for p := range m.prev {
					if grown[m.id][p] {
						kept++
					}
				}
				if want := min(len(m.prev), floor); kept < want {
					t.Fatalf("case %d: %s kept %d of its %d partitions, at least %d expected", i, m.id, kept, len(m.prev), want)
				}
			}
		}
	}
}

func TestRangeAssignor(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		c := randomCase(r, false)
		out := assign("range", c.members, c.topics)
		checkAssignment(t, c, out)
		// Per topic: subscribers in id order take consecutive ranges,
		// the first n%m one more.
		for _, tp := range c.topics {
			var subs []string
			for _, m := range c.members {
				if m.topics[tp.id] {
					subs = append(subs, m.id)
				}
			}
			next := int32(0)
			for i, id := range subs {
				n := int(tp.partitions) / len(subs)
				if i < int(tp.partitions)%len(subs) {
					n++
				}
				for k := 0; k < n; k++ {
					if !out[id][tpid{tp.id, next}] {
						t.Fatalf("%s:%d should go to %s", tp.name, next, id)
					}
					next++
				}
			}
		}
	}
}
