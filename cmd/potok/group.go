package main

// potok group: kafka-consumer-groups.sh's jobs, over kadm.

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

func groupList(e *cliEnv, args []string) error {
	fs := e.flags("")
	names := fs.Bool("names", false, "print only the names, one a line (for scripts and shell completion)")
	var states multiFlag
	fs.Var(&states, "state", "only groups in this state (Empty, Stable, ...); repeatable")
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	adm, ctx, done, err := e.admin()
	if err != nil {
		return err
	}
	defer done()
	ls, err := adm.ListGroups(ctx, states...)
	if err != nil {
		return err
	}
	if *names {
		for _, g := range ls.Sorted() {
			fmt.Fprintln(e.stdout, g.Group)
		}
		return nil
	}
	type listed struct {
		Group        string `json:"group"`
		State        string `json:"state"`
		ProtocolType string `json:"protocol_type"`
		Coordinator  int32  `json:"coordinator"`
	}
	out := []listed{}
	for _, g := range ls.Sorted() {
		out = append(out, listed{g.Group, g.State, g.ProtocolType, g.Coordinator})
	}
	if e.format == "json" {
		return e.json(out)
	}
	tb := e.table("GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
	for _, g := range out {
		tb.row(g.Group, g.State, g.ProtocolType, g.Coordinator)
	}
	tb.flush()
	return nil
}

// lagRow is one partition of a group, as kafka-consumer-groups.sh
// --describe prints it.
type lagRow struct {
	Group         string `json:"group"`
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	CurrentOffset int64  `json:"current_offset"`
	LogEndOffset  int64  `json:"log_end_offset"`
	Lag           int64  `json:"lag"`
	ConsumerID    string `json:"consumer_id,omitempty"`
	Host          string `json:"host,omitempty"`
	ClientID      string `json:"client_id,omitempty"`
	Error         string `json:"error,omitempty"`
}

type groupInfo struct {
	Group        string   `json:"group"`
	State        string   `json:"state"`
	ProtocolType string   `json:"protocol_type"`
	Protocol     string   `json:"protocol"`
	Coordinator  int32    `json:"coordinator"`
	Members      []member `json:"members"`
	Lag          []lagRow `json:"partitions"`
	TotalLag     int64    `json:"total_lag"`
}

type member struct {
	MemberID   string  `json:"member_id"`
	InstanceID *string `json:"instance_id,omitempty"`
	ClientID   string  `json:"client_id"`
	Host       string  `json:"host"`
}

// groupLags fetches the described groups with their lag.
func (e *cliEnv) groupLags(groups []string) ([]groupInfo, error) {
	adm, ctx, done, err := e.admin()
	if err != nil {
		return nil, err
	}
	defer done()
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return nil, err
	}
	var out []groupInfo
	var errs []error
	for _, g := range groups {
		l, ok := lags[g]
		if !ok {
			errs = append(errs, fmt.Errorf("group %s: no answer", g))
			continue
		}
		if l.DescribeErr != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g, l.DescribeErr))
			continue
		}
		if l.FetchErr != nil {
			errs = append(errs, fmt.Errorf("offsets of group %s: %w", g, l.FetchErr))
			continue
		}
		gi := groupInfo{Group: g, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
			Coordinator: l.Coordinator.NodeID, Members: []member{}, Lag: []lagRow{}}
		if l.State == "Dead" {
			errs = append(errs, fmt.Errorf("group %s does not exist", g))
			continue
		}
		for _, m := range l.Members {
			gi.Members = append(gi.Members, member{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, Host: m.ClientHost})
		}
		for _, ml := range l.Lag.Sorted() {
			r := lagRow{Group: g, Topic: ml.Topic, Partition: ml.Partition, CurrentOffset: ml.Commit.At, LogEndOffset: ml.End.Offset, Lag: ml.Lag}
			if ml.Member != nil {
				r.ConsumerID, r.Host, r.ClientID = ml.Member.MemberID, ml.Member.ClientHost, ml.Member.ClientID
			}
			if ml.Err != nil {
				r.Error = ml.Err.Error()
			}
			if ml.Lag > 0 {
				gi.TotalLag += ml.Lag
			}
			gi.Lag = append(gi.Lag, r)
		}
		out = append(out, gi)
	}
	return out, errors.Join(errs...)
}

func (e *cliEnv) printLag(rows []lagRow) {
	tb := e.table("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, r := range rows {
		cur := strconv.FormatInt(r.CurrentOffset, 10)
		if r.CurrentOffset < 0 {
			cur = "-"
		}
		tb.row(r.Group, r.Topic, r.Partition, cur, r.LogEndOffset, r.Lag, dash(r.ConsumerID), dash(r.Host), dash(r.ClientID))
	}
	tb.flush()
}

func groupDescribe(e *cliEnv, args []string) error {
	fs := e.flags("GROUP...")
	groups, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(groups) == 0 {
		return usagef("name at least one group")
	}
	infos, err := e.groupLags(groups)
	if e.format == "json" {
		if infos == nil {
			infos = []groupInfo{}
		}
		if jerr := e.json(infos); jerr != nil {
			return jerr
		}
		return err
	}
	for i, g := range infos {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stdout, "Group %s is %s (%s/%s, coordinator %d), %d members, total lag %d.\n\n",
			g.Group, g.State, g.ProtocolType, g.Protocol, g.Coordinator, len(g.Members), g.TotalLag)
		e.printLag(g.Lag)
		if len(g.Members) > 0 {
			fmt.Fprintln(e.stdout)
			tb := e.table("MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST")
			for _, m := range g.Members {
				inst := "-"
				if m.InstanceID != nil {
					inst = *m.InstanceID
				}
				tb.row(m.MemberID, inst, m.ClientID, m.Host)
			}
			tb.flush()
		}
	}
	return err
}

func groupLag(e *cliEnv, args []string) error {
	fs := e.flags("GROUP...")
	groups, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(groups) == 0 {
		return usagef("name at least one group")
	}
	infos, err := e.groupLags(groups)
	rows := []lagRow{}
	for _, g := range infos {
		rows = append(rows, g.Lag...)
	}
	if e.format == "json" {
		if jerr := e.json(rows); jerr != nil {
			return jerr
		}
		return err
	}
	e.printLag(rows)
	return err
}

func groupDelete(e *cliEnv, args []string) error {
	fs := e.flags("GROUP...")
	groups, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(groups) == 0 {
		return usagef("name at least one group")
	}
	adm, ctx, done, err := e.admin()
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.DeleteGroups(ctx, groups...)
	if err != nil {
		return err
	}
	var errs []error
	deleted := []string{}
	for _, g := range groups {
		r := res[g]
		if r.Err != nil {
			errs = append(errs, kafkaErr("group "+g, r.Err, r.ErrMessage))
			continue
		}
		deleted = append(deleted, g)
	}
	if e.format == "json" {
		if err := e.json(map[string]any{"deleted": deleted}); err != nil {
			return err
		}
	} else {
		for _, g := range deleted {
			fmt.Fprintf(e.stdout, "Deleted group %s.\n", g)
		}
	}
	return errors.Join(errs...)
}

// groupResetOffsets moves a group's committed offsets, as
// kafka-consumer-groups.sh --reset-offsets: only for a group without
// active members, and only with --execute (otherwise the plan is printed).
func groupResetOffsets(e *cliEnv, args []string) error {
	fs := e.flags("GROUP")
	var topics multiFlag
	fs.Var(&topics, "topic", "a topic, or `topic:partition,partition` for some partitions; repeatable")
	allTopics := fs.Bool("all-topics", false, "every topic the group has committed offsets for")
	earliest := fs.Bool("to-earliest", false, "reset to the log start")
	latest := fs.Bool("to-latest", false, "reset to the log end")
	toOffset := fs.Int64("to-offset", -1, "reset to this offset (clamped to the log's range)")
	shiftBy := fs.Int64("shift-by", 0, "move the current offsets by this much (negative: back)")
	toDatetime := fs.String("to-datetime", "", "reset to the first offset at or after this time (RFC 3339, e.g. 2024-01-02T15:04:05Z)")
	execute := fs.Bool("execute", false, "apply the reset; without it the plan is only printed")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("name exactly one group")
	}
	group := pos[0]
	modes := 0
	for _, set := range []bool{*earliest, *latest, *toOffset >= 0, *shiftBy != 0, *toDatetime != ""} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return usagef("give exactly one of --to-earliest, --to-latest, --to-offset, --shift-by, --to-datetime")
	}
	if len(topics) == 0 && !*allTopics {
		return usagef("give --topic or --all-topics")
	}
	var at time.Time
	if *toDatetime != "" {
		if at, err = time.Parse(time.RFC3339, *toDatetime); err != nil {
			return usagef("--to-datetime: %v", err)
		}
	}
	adm, ctx, done, err := e.admin()
	if err != nil {
		return err
	}
	defer done()

	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return err
	}
	d := dg[group]
	if d.Err != nil {
		return kafkaErr("group "+group, d.Err, d.ErrMessage)
	}
	if d.State != "Empty" && d.State != "Dead" {
		return fmt.Errorf("offsets can only be reset while group %s is inactive, but it is %s with %d members; stop its consumers first",
			group, d.State, len(d.Members))
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return err
	}
	// Which partitions: named ones, or every one the group committed.
	want := kadm.TopicsSet{}
	if *allTopics {
		for t, ps := range committed {
			for p := range ps {
				want.Add(t, p)
			}
		}
	}
	var whole []string
	for _, spec := range topics {
		t, parts, hasParts := strings.Cut(spec, ":")
		if !hasParts {
			whole = append(whole, t)
			continue
		}
		for _, p := range strings.Split(parts, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
			if err != nil {
				return usagef("--topic %s: %q is not a partition number", spec, p)
			}
			want.Add(t, int32(n))
		}
	}
	if len(whole) > 0 {
		td, err := adm.ListTopics(ctx, whole...)
		if err != nil {
			return err
		}
		for _, t := range whole {
			detail, ok := td[t]
			if !ok || detail.Err != nil {
				return fmt.Errorf("topic %s does not exist", t)
			}
			for _, p := range detail.Partitions {
				want.Add(t, p.Partition)
			}
		}
	}
	names := want.Topics()
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return err
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return err
	}
	var byTime kadm.ListedOffsets
	if !at.IsZero() {
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), names...); err != nil {
			return err
		}
	}
	type planned struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Current   int64  `json:"current_offset"`
		New       int64  `json:"new_offset"`
	}
	var plan []planned
	offsets := kadm.Offsets{}
	for _, tp := range want.Sorted() {
		for _, p := range tp.Partitions {
			s, _ := starts.Lookup(tp.Topic, p)
			en, _ := ends.Lookup(tp.Topic, p)
			if s.Err != nil || en.Err != nil {
				return fmt.Errorf("offsets of %s/%d: %v", tp.Topic, p, errors.Join(s.Err, en.Err))
			}
			cur := int64(-1)
			if c, ok := committed.Lookup(tp.Topic, p); ok && c.Err == nil {
				cur = c.At
			}
			var next int64
			switch {
			case *earliest:
				next = s.Offset
			case *latest:
				next = en.Offset
			case *toOffset >= 0:
				next = *toOffset
			case *shiftBy != 0:
				base := cur
				if base < 0 {
					base = en.Offset
				}
				next = base + *shiftBy
			default:
				next = en.Offset
				if o, ok := byTime.Lookup(tp.Topic, p); ok && o.Err == nil && o.Offset >= 0 {
					next = o.Offset
				}
			}
			next = min(max(next, s.Offset), en.Offset)
			plan = append(plan, planned{tp.Topic, p, cur, next})
			offsets.Add(kadm.Offset{Topic: tp.Topic, Partition: p, At: next, LeaderEpoch: -1})
		}
	}
	slices.SortFunc(plan, func(a, b planned) int {
		if a.Topic != b.Topic {
			return strings.Compare(a.Topic, b.Topic)
		}
		return int(a.Partition - b.Partition)
	})
	if *execute {
		res, err := adm.CommitOffsets(ctx, group, offsets)
		if err != nil {
			return err
		}
		if err := res.Error(); err != nil {
			return fmt.Errorf("committing the new offsets: %w", err)
		}
	}
	if e.format == "json" {
		return e.json(map[string]any{"group": group, "executed": *execute, "offsets": plan})
	}
	tb := e.table("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET")
	for _, p := range plan {
		cur := "-"
		if p.Current >= 0 {
			cur = strconv.FormatInt(p.Current, 10)
		}
		tb.row(group, p.Topic, p.Partition, cur, p.New)
	}
	tb.flush()
	if !*execute {
		fmt.Fprintln(e.stdout, "\nDry run: nothing changed. Add --execute to reset the offsets.")
	}
	return nil
}
